// owedCopies: one per store that is owed copies, started when a file leaves a full spool before
// that store took it (and by the sweep, as a safety net). It makes the copies store to store as
// soon as the store answers, keeps `store-degraded` raised while any is owed, and ends once none is.
import {
  continueAsNew,
  ParentClosePolicy,
  proxyActivities,
  sleep,
  startChild,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { createActivities } from '../activities';
import { OwedCopiesInput, owedCopiesWorkflowId } from '../lib/contracts';
import { startOptions } from '../lib/workflowstart';

type Activities = ReturnType<typeof createActivities>;

/** How often a store that is still down is tried again: "within minutes" of its return. */
const RETRY_EVERY = '30 seconds';
const BATCH = 200;
/** Rounds per run before continuing as new: history stays small however long the outage. */
const ROUNDS_PER_RUN = 100;

const store = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '5s', maximumInterval: '1 minute' },
});
const catalog = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

export async function owedCopies(input: OwedCopiesInput): Promise<{ made: number }> {
  const { cluster } = input;
  const degraded = `store-degraded:${input.store}`;
  upsertMemo({ cluster, store: input.store });
  let made = 0;
  for (let round = 0; round < ROUNDS_PER_RUN; round++) {
    const r = await store.makeOwedCopies({ cluster, store: input.store, limit: BATCH });
    made += r.made;
    upsertMemo({ owed: r.owed, made, lastError: r.error });
    if (r.owed === 0) {
      await catalog.resolveAlert({ cluster, key: degraded });
      // The store took every copy: the upload alert raised while it was down is over too.
      await catalog.resolveAlert({ cluster, key: `store-failing:${input.store}` });
      return { made };
    }
    if (round === 0)
      await catalog.raiseAlert({
        cluster,
        key: degraded,
        kind: 'store-degraded',
        message:
          `store ${input.store} is owed ${r.owed} WAL copies: files left the full spool with fewer copies than ` +
          `there are stores; they are copied there from the others as soon as it answers${r.error ? ` (${r.error})` : ''}`,
        details: { store: input.store, owed: r.owed },
      });
    if (!r.made) await sleep(RETRY_EVERY);
    if (workflowInfo().continueAsNewSuggested) break;
  }
  return continueAsNew<typeof owedCopies>(input);
}

/** Starts the store's owedCopies workflow unless it runs already; it outlives its starter. */
export async function startOwedCopies(cluster: string, store: string): Promise<void> {
  try {
    await startChild(owedCopies, {
      ...startOptions({ kind: 'owed-copies', cluster, workflowId: owedCopiesWorkflowId(cluster, store) }),
      args: [{ cluster, store }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
  } catch (e) {
    if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
  }
}
