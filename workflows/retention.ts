// retention: plan from the backups in each store, then delete exactly the plan (skipped on a
// dry run). The plan's deletions are in the catalog (db/rundetails.ts): the payloads carry counts. Alerts when nothing can be pruned for want of a backup, or backups stopped coming.
import { proxyActivities, upsertMemo, workflowInfo } from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { resolvePolicy } from '../lib/clusterpolicy';
import { retentionInputSchema } from '../lib/inputs';
import { validInput } from './input';
import type { RetentionInput, RetentionResult } from '../lib/contracts';

type Activities = ReturnType<typeof createActivities>;

const store = proxyActivities<Activities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '10s', maximumInterval: '5 minutes' },
});
const catalog = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

export async function retention(input: RetentionInput): Promise<RetentionResult> {
  validInput(retentionInputSchema, input, 'retention');
  const { cluster } = input;
  const startedAt = new Date(workflowInfo().startTime).toISOString();
  const now = input.now ?? startedAt;
  const policy = resolvePolicy(input.policy).retention;
  upsertMemo({ cluster, dryRun: !!input.dryRun, asOf: now, policy, state: 'planning' });
  const plan = await store.planRetention({ cluster, now, policy });
  const planned = plan.stores.reduce((n, s) => n + s.deletionCount, 0);

  const blocked = plan.stores.filter((s) => s.blocked);
  if (blocked.length) {
    await catalog.raiseAlert({
      cluster,
      key: 'retention-blocked',
      kind: 'retention-blocked',
      message: `retention cannot prune ${blocked.map((s) => s.store).join(', ')}: ${blocked[0].blocked}`,
      details: { stores: blocked.map((s) => s.store) },
    });
  } else {
    await catalog.resolveAlert({ cluster, key: 'retention-blocked' });
  }
  const deleted = input.dryRun ? 0 : await store.applyRetention({ plan });
  const summary = {
    dryRun: !!input.dryRun,
    policy,
    planned,
    deleted,
    kept: Object.fromEntries(plan.stores.map((s) => [s.store, s.kept])),
  };
  upsertMemo({ state: input.dryRun ? 'dry run' : 'applied', planned, deleted });
  if (!input.dryRun) {
    await catalog.recordRun({
      cluster,
      kind: 'retention',
      workflowId: workflowInfo().workflowId,
      startedAt,
      outcome: blocked.length ? 'failed' : 'ok',
      summary,
    });
  }
  return { ...plan, deleted };
}
