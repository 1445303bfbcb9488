// The summary of what a restore can reach, for the memo of backup and verify runs. A memo is
// never worth failing or stalling a run over: a few attempts, then it says why it is missing.
import { proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../activities';

type Activities = ReturnType<typeof createActivities>;

const { recoverableSummary } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 3 },
});

export async function recoverableMemo(cluster: string): Promise<Record<string, unknown>> {
  try {
    return { recoverable: await recoverableSummary({ cluster }) };
  } catch (e) {
    return { recoverable: { unavailable: (e as Error).message } };
  }
}
