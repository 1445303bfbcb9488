// Where every object lives in a store, in one place: <cluster>/cluster.json, <cluster>/wal/ (history
// files, and segments per timeline), <cluster>/backups/<backup id>/. Keys are relative to a store's prefix.
import type { WalName } from './wal/name';
import { timelineHex } from './wal/name';

export const clusterJsonKey = (cluster: string) => `${cluster}/cluster.json`;

export const walPrefix = (cluster: string) => `${cluster}/wal/`;

/** History files keep their plain name (never compressed, never deleted); the rest sit per timeline. */
export function walKey(cluster: string, wal: WalName, suffix: string): string {
  if (wal.kind === 'history') return `${cluster}/wal/${wal.name}`;
  return `${cluster}/wal/${timelineHex(wal.timeline)}/${wal.name}${suffix}`;
}

export const backupPrefix = (cluster: string, backupId: string) => `${cluster}/backups/${backupId}/`;

/** `walflow doctor`'s short-lived probe objects: outside wal/ and backups/, so no listing of those meets them. */
export const probeKey = (cluster: string, id: string) => `${cluster}/doctor/${id}`;
