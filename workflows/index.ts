// The workflow bundle entry: every workflow type the worker serves.
export { archiveSegment, archiveSweep } from './archive';
export { archiveBatch } from './archivebatch';
export { owedCopies } from './owed';
export { baseBackup } from './backup';
export { restore } from './restore';
export { verify } from './verify';
export { retention } from './retention';
export { restoreDrill } from './drill';
export { checks } from './checks';
export { deliverAlert } from './alert';
