// What a restore can reach, read from the catalog: complete backups and the segments' indexes.
// One query shared by `walflow recoverable`, backup and verify memos and the restore's reach check.
import { and, eq } from 'drizzle-orm';
import type { Catalog } from './client';
import { backups, walFiles } from './schema';
import { asIndex } from '../lib/wal/segmentindex';
import { recoverableWindows, TimelineWindows } from '../lib/wal/windows';

export async function loadWindows(db: Catalog, cluster: string): Promise<TimelineWindows[]> {
  const rows = await db
    .select({
      timeline: walFiles.timeline,
      name: walFiles.name,
      startLsn: walFiles.startLsn,
      rawSize: walFiles.rawSize,
      walIndex: walFiles.walIndex,
    })
    .from(walFiles)
    .where(and(eq(walFiles.cluster, cluster), eq(walFiles.kind, 'segment')));
  if (rows.length === 0) return [];
  const complete = await db
    .select()
    .from(backups)
    .where(and(eq(backups.cluster, cluster), eq(backups.status, 'complete')));
  // Every segment file is exactly one segment long: its raw size is the cluster's segment size.
  const segmentSize = rows[0].rawSize;
  return recoverableWindows(
    rows
      .filter((r) => r.startLsn !== null)
      .map((r) => ({
        timeline: r.timeline,
        name: r.name,
        startLsn: r.startLsn!,
        index: asIndex(r.walIndex) ?? null,
      })),
    complete
      .filter((b) => b.timeline !== null && b.stopLsn !== null && b.stoppedAt !== null)
      .map((b) => ({
        backupId: b.backupId,
        timeline: b.timeline!,
        stopLsn: b.stopLsn!,
        stoppedAt: b.stoppedAt!.toISOString(),
      })),
    segmentSize,
  );
}
