// checks: the periodic checks of a cluster (spool age, backup age, silent hosts, PostgreSQL's
// archiver, stale WAL, webhook retries), on their own Schedule on the shared queue, so a host
// that died or a sweep waiting on a store that is down never stops them. Every check stands on
// its own: one that cannot run (catalog or host unreachable) leaves the others to report.
import { ActivityFailure, proxyActivities, upsertMemo } from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { AlertInput, ChecksInput, hostQueue, NewestArchived } from '../lib/contracts';
import { AlertPolicy, resolvePolicy } from '../lib/clusterpolicy';
import {
  archiveFailing,
  archiveFailingKey,
  archiveStale,
  archiveStaleKey,
  hostSilentKey,
  silentByPolls,
  silentByReport,
  spoolAge,
  spoolAgeKey,
} from '../lib/hostchecks';
import { raise, resolve } from './alert';

type Activities = ReturnType<typeof createActivities>;

const shared = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1s', maximumInterval: '5s', maximumAttempts: 3 },
});

/** Not answering within the host-silent threshold is itself the finding. */
const hostOf = (cluster: string, hostId: string, silentMs: number) =>
  proxyActivities<Activities>({
    taskQueue: hostQueue(cluster, hostId),
    scheduleToCloseTimeout: silentMs,
    startToCloseTimeout: Math.min(silentMs, 30_000),
    retry: { initialInterval: '1s', maximumInterval: '5s' },
  });

/** The value, or undefined when the activity failed: the checks that need it are skipped this run. */
async function tried<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof ActivityFailure) return undefined;
    throw e;
  }
}

async function raiseOrResolve(cluster: string, key: string, alert: AlertInput | null): Promise<void> {
  if (alert) await raise(alert);
  else await resolve({ cluster, key });
}

async function checkHost(
  cluster: string,
  hostId: string,
  policy: AlertPolicy,
  newest: NewestArchived | null | undefined,
): Promise<string> {
  const lastPoll = await tried(shared.hostLastPoll({ cluster, hostId }));
  if (lastPoll === undefined) return 'unknown: Temporal did not answer';
  const byPolls = silentByPolls(cluster, hostId, lastPoll, policy.hostSilentMs);
  if (byPolls) {
    await raise(byPolls); // nobody would run a report: ask for none
    return 'silent';
  }
  let report;
  try {
    report = await hostOf(cluster, hostId, policy.hostSilentMs).hostReport({ cluster, after: newest?.name ?? '' });
  } catch (e) {
    if (!(e instanceof ActivityFailure)) throw e;
    await raise(silentByReport(cluster, hostId, policy.hostSilentMs, e.cause?.message ?? e.message));
    return 'silent';
  }
  await resolve({ cluster, key: hostSilentKey(hostId) });
  await raiseOrResolve(
    cluster,
    spoolAgeKey(hostId),
    spoolAge(cluster, hostId, report.spool.oldestAgeMs, policy.spoolAgeMs),
  );
  const pg = report.postgres;
  if (!pg) return 'ok';
  if ('error' in pg) return `PostgreSQL unreachable: ${pg.error}`;
  await raiseOrResolve(cluster, archiveFailingKey(hostId), archiveFailing(cluster, hostId, pg));
  // Without the catalog there is no telling what reached the stores.
  if (newest !== undefined && !pg.walDirError)
    await raiseOrResolve(
      cluster,
      archiveStaleKey(hostId),
      archiveStale(cluster, hostId, pg, newest, policy.archiveStaleMs),
    );
  if (pg.walDirError) return `archive-stale not judged: ${pg.walDirError}`;
  return 'ok';
}

export async function checks(input: ChecksInput): Promise<Record<string, string>> {
  const { cluster } = input;
  const { alerts: policy } = resolvePolicy(input.policy);
  upsertMemo({ cluster, state: 'checking' });
  const [hosts, newest] = await Promise.all([
    tried(shared.clusterHosts({ cluster })),
    tried(shared.newestArchived({ cluster })),
  ]);
  const states = await Promise.all((hosts ?? []).map((h) => checkHost(cluster, h, policy, newest)));
  await tried(shared.checkBackupAge({ cluster, maxAgeMs: policy.backupAgeMs }));
  await tried(shared.deliverPendingAlerts({ cluster }));
  const hostStates = Object.fromEntries((hosts ?? []).map((h, i) => [h, states[i]]));
  upsertMemo({ state: 'done', hosts: hostStates });
  return hostStates;
}
