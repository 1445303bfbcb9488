// The workflow bundle entry: every workflow type the worker serves.
export { archiveSegment, archiveSweep } from './archive';
export { verify } from './verify';
