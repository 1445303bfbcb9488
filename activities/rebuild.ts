// Rebuilds the catalog's WAL records from what the stores hold (the stores are the truth; the
// catalog is an index). Idempotent: rows already there are kept.
import type { Catalog } from '../db/client';
import { migrateCatalog } from '../db/client';
import { walCopies, walFiles } from '../db/schema';
import { clusterJsonKey, walPrefix } from '../lib/keys';
import type { Store } from '../lib/stores/store';
import { DEFAULT_SEGMENT_SIZE } from '../lib/wal/lsn';
import { parseWalName, startLsnOf } from '../lib/wal/name';
import { walNameOfKey } from './verify';

export interface RebuildResult { files: number; copies: number; skipped: string[] }

export async function rebuildCatalog(
  cluster: string, stores: Map<string, Store>, db: Catalog, progress: (done: number, total: number) => void = () => undefined,
): Promise<RebuildResult> {
  await migrateCatalog(db);
  let segmentSize = DEFAULT_SEGMENT_SIZE;
  for (const store of stores.values()) {
    const head = await store.head(clusterJsonKey(cluster));
    if (head) { segmentSize = (JSON.parse((await store.get(clusterJsonKey(cluster))).toString()) as { segmentSize: number }).segmentSize; break; }
  }
  const objects: { store: string; key: string }[] = [];
  for (const [name, store] of stores) {
    for await (const o of store.list(walPrefix(cluster))) if (walNameOfKey(o.key)) objects.push({ store: name, key: o.key });
  }
  const result: RebuildResult = { files: 0, copies: 0, skipped: [] };
  let done = 0;
  for (const { store: storeName, key } of objects) {
    progress(++done, objects.length);
    const head = await stores.get(storeName)!.head(key);
    const wal = parseWalName(walNameOfKey(key)!, segmentSize)!;
    if (!head?.meta) { result.skipped.push(`${storeName}:${key}`); continue; }
    const at = head.lastModified ?? new Date();
    const files = await db.insert(walFiles).values({
      cluster, timeline: wal.timeline, name: wal.name, kind: wal.kind, startLsn: startLsnOf(wal, segmentSize) ?? null,
      rawSize: head.meta.rawSize, storedSize: head.size, codec: head.meta.codec, sha256: head.meta.sha256, key,
      handedOverAt: at, archivedAt: at,
    }).onConflictDoNothing().returning({ id: walFiles.id });
    result.files += files.length;
    const copies = await db.insert(walCopies).values({
      cluster, name: wal.name, store: storeName, key, storedSize: head.size, confirmedAt: at,
    }).onConflictDoNothing().returning({ id: walCopies.id });
    result.copies += copies.length;
  }
  return result;
}
