// What a restore can reach, from the catalog: complete backups and the segments' indexes.
import { ApplicationFailure } from '@temporalio/activity';
import { and, eq } from 'drizzle-orm';
import type { Catalog } from '../db/client';
import { backups, walFiles } from '../db/schema';
import { RecoveryTarget, TARGET_UNREACHABLE } from '../lib/contracts';
import { refuseTarget } from '../lib/wal/reach';
import { asIndex } from '../lib/wal/segmentindex';
import { recoverableWindows, summarizeWindows, TimelineWindows } from '../lib/wal/windows';

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

export function recoverableActivities(db: () => Catalog) {
  return {
    /** A few lines for a workflow's memo: bounded whatever the archive's size. */
    async recoverableSummary({ cluster }: { cluster: string }) {
      return summarizeWindows(await loadWindows(db(), cluster));
    },

    /** Before a restore downloads anything: a target outside every reachable window is refused. */
    async checkRestoreTarget({
      cluster,
      target,
      targetTimeline,
    }: {
      cluster: string;
      target: RecoveryTarget;
      targetTimeline: number | 'latest';
    }): Promise<void> {
      const refusal = refuseTarget(await loadWindows(db(), cluster), target, targetTimeline);
      if (refusal) throw ApplicationFailure.nonRetryable(refusal, TARGET_UNREACHABLE);
    },
  };
}
