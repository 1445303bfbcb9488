// Catalog activities: what was archived where.
import type { Catalog } from '../db/client';
import { owedCopies, runs, walCopies, walFiles } from '../db/schema';
import type { Logger } from '../lib/log';
import { archiveLatency } from '../lib/metrics';
import { decodeIndex } from '../lib/wal/segmentindex';
import type { CopyResult, RunRecord, StagedFile } from '../lib/contracts';

export function catalogActivities(db: () => Catalog, log: Logger) {
  return {
    async recordRun(r: RunRecord): Promise<void> {
      await db()
        .insert(runs)
        .values({ ...r, startedAt: new Date(r.startedAt) });
      log.info(
        { cluster: r.cluster, run: r.kind, outcome: r.outcome, workflowId: r.workflowId },
        `${r.kind} ${r.outcome}`,
      );
    },

    /** owed: stores that do not hold the file yet although it leaves the spool (it was full). */
    async recordArchived({
      cluster,
      staged,
      copies,
      owed = [],
    }: {
      cluster: string;
      staged: StagedFile;
      copies: CopyResult[];
      owed?: string[];
    }) {
      await db().transaction(async (tx) => {
        const file = {
          cluster,
          timeline: staged.timeline,
          name: staged.name,
          kind: staged.kind,
          startLsn: staged.startLsn === null ? null : BigInt(staged.startLsn),
          rawSize: staged.rawSize,
          storedSize: staged.storedSize,
          codec: staged.codec,
          sha256: staged.sha256,
          key: staged.key,
          handedOverAt: new Date(staged.handedOverAt),
          archivedAt: new Date(),
          walIndex: decodeIndex(staged.walIndex ?? undefined) ?? null,
        };
        await tx
          .insert(walFiles)
          .values(file)
          .onConflictDoUpdate({
            target: [walFiles.cluster, walFiles.name],
            set: { archivedAt: file.archivedAt, walIndex: file.walIndex },
          });
        for (const c of copies) {
          await tx
            .insert(walCopies)
            .values({
              cluster,
              name: staged.name,
              store: c.store,
              key: staged.key,
              storedSize: staged.storedSize,
              confirmedAt: new Date(c.confirmedAt),
              uploadMs: c.uploadMs,
            })
            .onConflictDoNothing();
        }
        for (const store of owed)
          await tx
            .insert(owedCopies)
            .values({ cluster, name: staged.name, store, key: staged.key })
            .onConflictDoNothing();
      });
      if (owed.length)
        log.warn({ cluster, file: staged.name, owed }, 'left the full spool before every store held it; copies owed');
      if (!owed.length) {
        const everywhere = Math.max(...copies.map((c) => new Date(c.confirmedAt).getTime()));
        archiveLatency.observe({ cluster }, Math.max(0, everywhere - new Date(staged.handedOverAt).getTime()) / 1000);
      }
      log.info(
        {
          cluster,
          file: staged.name,
          raw: staged.rawSize,
          stored: staged.storedSize,
          stores: copies.map((c) => `${c.store}:${c.outcome}`),
        },
        'archived',
      );
    },
  };
}
