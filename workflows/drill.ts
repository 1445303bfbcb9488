// restoreDrill: proves on a schedule that the archive restores. Restores the newest state into
// a scratch folder on the drill host, starts it, runs a check query, records the time to
// recover, removes everything, and alerts on failure.
import {
  ApplicationFailure,
  executeChild,
  patched,
  proxyActivities,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import {
  DrillInput,
  DrillResult,
  drillSpaceNeeded,
  HOST_PICKUP_TIMEOUT,
  hostQueue,
  NO_BACKUP,
  type RestoreProgress,
} from '../lib/contracts';
import { startOptions } from '../lib/workflowstart';
import { resolvePolicy } from '../lib/clusterpolicy';
import { explainHostFailure } from './hostqueue';
import { restore } from './restore';
import { drillInputSchema } from '../lib/inputs';
import { validInput } from './input';

type Activities = ReturnType<typeof createActivities>;

const shared = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});
/** Choosing reads every store's listing: as long as a restore gives it. */
const choosing = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes: [NO_BACKUP] },
});
const onHost = (cluster: string, hostId: string) =>
  proxyActivities<Activities>({
    taskQueue: hostQueue(cluster, hostId),
    scheduleToStartTimeout: HOST_PICKUP_TIMEOUT,
    startToCloseTimeout: '5 minutes',
    retry: { initialInterval: '2s', maximumInterval: '1 minute', maximumAttempts: 5 },
  });

export async function restoreDrill(raw: DrillInput = {}): Promise<DrillResult> {
  const input = validInput(drillInputSchema, raw, 'restoreDrill');
  const policy = resolvePolicy(input.policy).drill;
  const chosenHost = input.hostId ?? policy.hostId;
  const defaults = input.cluster && chosenHost ? undefined : await shared.restoreDefaults();
  const cluster = input.cluster ?? defaults!.cluster;
  const hostId = chosenHost ?? defaults!.hostId;
  const checkQuery = input.checkQuery ?? policy.checkQuery;
  const info = workflowInfo();
  const startedAt = new Date(info.startTime);
  const h = onHost(cluster, hostId);
  upsertMemo({ cluster, host: hostId, checkQuery, state: 'preparing' });
  const scratch = await h.drillPrepare({ cluster, drillId: String(startedAt.getTime()) }).catch((e: unknown) => {
    throw explainHostFailure(e, cluster, hostId);
  });
  const result: DrillResult = { cluster, hostId, outcome: 'failed', pgdata: scratch.pgdata };
  try {
    // patched: a drill that was already restoring under the previous code let its restore choose.
    let backupId: string | undefined;
    if (patched('drill-checks-space')) {
      // The room a restore of the newest backup takes, checked before a byte is downloaded.
      const backup = await choosing.chooseBackup({ cluster, target: { kind: 'end' } });
      await h.drillCheckSpace({ scratch: scratch.scratch, needBytes: drillSpaceNeeded(backup.rawSize) });
      backupId = backup.backupId;
    }
    upsertMemo({ state: 'restoring', pgdata: scratch.pgdata, port: scratch.port });
    const restored: RestoreProgress = await executeChild(restore, {
      ...startOptions({ kind: 'restore', cluster, host: hostId, workflowId: `${info.workflowId}/restore` }),
      args: [{ cluster, hostId, pgdata: scratch.pgdata, port: scratch.port, start: true, archive: false, backupId }],
    });
    result.secondsToRecover = (Date.now() - startedAt.getTime()) / 1000;
    result.backupId = restored.backupId;
    result.reachedLsn = restored.reachedLsn;
    result.reachedTime = restored.reachedTime;
    result.phases = restored.phases.map((p) => ({ phase: p.phase, seconds: p.seconds ?? 0 }));
    upsertMemo({ state: 'checking', backupId: restored.backupId ?? null });
    result.check = await h.drillCheck({ pgdata: scratch.pgdata, port: scratch.port, query: checkQuery });
    result.outcome = 'ok';
  } catch (e) {
    result.error = ((e as Error).cause as Error | undefined)?.message ?? (e as Error).message;
  } finally {
    await h.drillCleanup(scratch);
  }

  upsertMemo({ state: result.outcome, secondsToRecover: result.secondsToRecover ?? null, error: result.error ?? null });
  await shared.recordRun({
    cluster,
    kind: 'drill',
    workflowId: info.workflowId,
    startedAt: startedAt.toISOString(),
    outcome: result.outcome,
    summary: { ...result, policy: { hostId, checkQuery } },
  });
  if (result.outcome === 'ok') {
    await shared.resolveAlert({ cluster, key: 'drill-failure' });
    return result;
  }
  await shared.raiseAlert({
    cluster,
    key: 'drill-failure',
    kind: 'drill-failure',
    message: `restore drill on ${hostId} failed: ${result.error}; the archive may not restore`,
    details: { host: hostId, workflowId: info.workflowId },
  });
  throw ApplicationFailure.nonRetryable(`restore drill failed: ${result.error}`, 'DrillFailed');
}
