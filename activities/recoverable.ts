// What a restore can reach: memo summaries and the check before a restore downloads anything.
import { ApplicationFailure } from '@temporalio/activity';
import type { Catalog } from '../db/client';
import { loadWindows } from '../db/windows';
import { RecoveryTarget, TARGET_UNREACHABLE } from '../lib/contracts';
import { refuseTarget } from '../lib/wal/reach';
import { summarizeWindows } from '../lib/wal/windows';

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
