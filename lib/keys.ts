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

/** Every base backup of a cluster, one folder each. */
export const backupsPrefix = (cluster: string) => `${cluster}/backups/`;

export const backupPrefix = (cluster: string, backupId: string) => `${backupsPrefix(cluster)}${backupId}/`;

/** The base backup's n-th tar chunk, inside its folder. */
export const backupChunkName = (n: number, suffix: string) => `base.tar.${String(n).padStart(6, '0')}${suffix}`;

/** Written last, into every store: a backup is complete where its manifest is. */
export const backupManifestKey = (cluster: string, backupId: string) =>
  `${backupPrefix(cluster, backupId)}manifest.json`;

/** PostgreSQL's own backup_manifest, read back as the parent of an incremental backup. */
export const backupPgManifestKey = (cluster: string, backupId: string) =>
  `${backupPrefix(cluster, backupId)}backup_manifest`;

/** The chunk list, written before the manifest that takes it in. */
export const backupFilesKey = (cluster: string, backupId: string) => `${backupPrefix(cluster, backupId)}files.json`;

/** The backup an object under backupsPrefix belongs to, and whether the object is its manifest. */
export function backupOfKey(cluster: string, key: string): { backupId: string; isManifest: boolean } | undefined {
  if (!key.startsWith(backupsPrefix(cluster))) return undefined;
  const backupId = key.slice(backupsPrefix(cluster).length).split('/')[0];
  return { backupId, isManifest: key === backupManifestKey(cluster, backupId) };
}

/** `walflow doctor`'s short-lived probe objects: outside wal/ and backups/, so no listing of those meets them. */
export const probeKey = (cluster: string, id: string) => `${cluster}/doctor/${id}`;
