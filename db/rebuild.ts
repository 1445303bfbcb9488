// Rebuilds the catalog's records of WAL and backups from what the stores hold (the stores are
// the truth; the catalog is an index), into a migrated catalog. Idempotent: rows already there
// are kept.
import type { Catalog } from './client';
import { backups, walCopies, walFiles } from './schema';
import { readClusterIdentity } from '../lib/clusterjson';
import { parseManifest } from '../lib/formats';
import { backupOfKey, backupsPrefix, walPrefix } from '../lib/keys';
import type { Store } from '../lib/stores/store';
import { walNameOfKey } from '../lib/walkeys';
import { parseLsn } from '../lib/wal/lsn';
import { parseWalName, startLsnOf } from '../lib/wal/name';
import { decodeIndex } from '../lib/wal/segmentindex';
import type { BackupManifest } from '../lib/contracts';

export interface RebuildResult {
  files: number;
  copies: number;
  backups: number;
  skipped: string[];
}

export async function rebuildCatalog(
  cluster: string,
  stores: Map<string, Store>,
  db: Catalog,
  progress: (done: number, total: number) => void = () => undefined,
): Promise<RebuildResult> {
  // No cluster.json means no segment was ever archived: only history files, which need no size.
  const segmentSize = (await readClusterIdentity(stores.values(), cluster))?.segmentSize;
  const objects: { store: string; key: string }[] = [];
  for (const [name, store] of stores) {
    for await (const o of store.list(walPrefix(cluster)))
      if (walNameOfKey(o.key)) objects.push({ store: name, key: o.key });
  }
  const result: RebuildResult = { files: 0, copies: 0, backups: 0, skipped: [] };
  let done = 0;
  for (const { store: storeName, key } of objects) {
    progress(++done, objects.length);
    const head = await stores.get(storeName)!.head(key);
    const wal = parseWalName(walNameOfKey(key)!, segmentSize)!;
    if (!head?.meta) {
      result.skipped.push(`${storeName}:${key}`);
      continue;
    }
    const at = head.lastModified ?? new Date();
    const files = await db
      .insert(walFiles)
      .values({
        cluster,
        timeline: wal.timeline,
        name: wal.name,
        kind: wal.kind,
        startLsn: segmentSize ? (startLsnOf(wal, segmentSize) ?? null) : null,
        rawSize: head.meta.rawSize,
        storedSize: head.size,
        codec: head.meta.codec,
        sha256: head.meta.sha256,
        key,
        handedOverAt: at,
        archivedAt: at,
        walIndex: decodeIndex(head.meta.walIndex) ?? null,
      })
      .onConflictDoNothing()
      .returning({ id: walFiles.id });
    result.files += files.length;
    const copies = await db
      .insert(walCopies)
      .values({
        cluster,
        name: wal.name,
        store: storeName,
        key,
        storedSize: head.size,
        confirmedAt: at,
      })
      .onConflictDoNothing()
      .returning({ id: walCopies.id });
    result.copies += copies.length;
  }
  result.backups = await rebuildBackups(cluster, stores, db);
  return result;
}

/** Complete backups are the ones with a manifest.json; the manifest holds every catalog field. */
async function rebuildBackups(cluster: string, stores: Map<string, Store>, db: Catalog): Promise<number> {
  const found = new Map<string, { manifest: BackupManifest; stores: string[] }>();
  for (const [name, store] of stores) {
    for await (const o of store.list(backupsPrefix(cluster))) {
      const backup = backupOfKey(cluster, o.key);
      if (!backup?.isManifest) continue;
      const manifest = parseManifest(await store.get(o.key), backup.backupId);
      const entry = found.get(manifest.backupId) ?? { manifest, stores: [] };
      entry.stores.push(name);
      found.set(manifest.backupId, entry);
    }
  }
  let inserted = 0;
  for (const { manifest: m, stores: where } of found.values()) {
    const rows = await db
      .insert(backups)
      .values({
        cluster,
        backupId: m.backupId,
        hostId: m.hostId,
        status: 'complete',
        timeline: m.timeline,
        startLsn: parseLsn(m.startLsn),
        stopLsn: parseLsn(m.stopLsn),
        startedAt: new Date(m.startTime),
        stoppedAt: new Date(m.stopTime),
        completedAt: new Date(m.walArchivedAt),
        rawSize: m.rawSize,
        storedSize: m.storedSize,
        pgVersion: m.pgVersion,
        systemIdentifier: m.systemIdentifier,
        stores: where,
        manifest: m,
      })
      .onConflictDoNothing()
      .returning({ id: backups.id });
    inserted += rows.length;
  }
  return inserted;
}
