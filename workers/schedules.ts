// The Temporal Schedules. `walflow schedules apply` owns the cluster-wide ones (base backup,
// retention, verify, drill, checks) and writes the cluster's policy into their input and into every
// host's archive-sweep; a worker only ensures its own host's sweep, with the policy it finds
// applied, so starting a worker never changes what the cluster keeps.
import {
  Client,
  ScheduleDescription,
  ScheduleNotFoundError,
  ScheduleOptions,
  ScheduleOverlapPolicy,
  ScheduleUpdateOptions,
} from '@temporalio/client';
import type { Config } from '../lib/config';
import { formatDuration } from '../lib/duration';
import { policyOf } from '../lib/policy';
import {
  backupScheduleId,
  backupWorkflowId,
  checksScheduleId,
  drillScheduleId,
  hostQueue,
  retentionScheduleId,
  sweepScheduleId,
  verifyScheduleId,
} from '../lib/contracts';
import { startOptions, WorkflowKind } from '../lib/workflowstart';
import { UserError } from '../lib/errors';
import { clusterHosts, recentPollers } from '../lib/temporal';
import { ClusterPolicy, PolicyInput, resolvePolicy } from '../lib/clusterpolicy';

export type ScheduleChange = { id: string; change: 'created' | 'updated' | 'deleted' | 'kept'; why?: string };

/** One interval Schedule starting one workflow type on the cluster's queue; a run never overlaps the last. */
function every(
  scheduleId: string,
  everyMs: number,
  workflowType: string,
  kind: WorkflowKind,
  input: { cluster: string; hostId?: string } & Record<string, unknown>,
  purpose: string,
  { catchupMs = 3_600_000, workflowId = scheduleId } = {},
): ScheduleOptions {
  const start = startOptions({ kind, cluster: input.cluster, host: input.hostId, workflowId });
  return {
    scheduleId,
    spec: { intervals: [{ every: everyMs }] },
    action: { type: 'startWorkflow', workflowType, args: [input], ...start },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: catchupMs },
    memo: { ...start.memo, purpose },
  };
}

/** The cluster-wide Schedules, as the settings of whoever applies them say. */
export function clusterSchedules(config: Config): ScheduleOptions[] {
  const { cluster, hostId } = config;
  const policy = policyOf(config);
  return [
    // Only where the applier reaches PostgreSQL (WALFLOW_PG_URL): the backup runs on its host.
    ...(config.pgUrl
      ? [
          every(
            backupScheduleId(cluster),
            config.backupEveryMs,
            'baseBackup',
            'backup',
            { cluster, hostId, ...(config.backupFullEveryMs ? { fullEveryMs: config.backupFullEveryMs } : {}) },
            config.backupFullEveryMs
              ? `base backup into every store, incremental unless the chain began ${formatDuration(config.backupFullEveryMs)} ago; complete once its WAL is archived`
              : 'base backup into every store; complete once its WAL is archived',
            { workflowId: backupWorkflowId(cluster, 'scheduled') },
          ),
        ]
      : []),
    every(
      verifyScheduleId(cluster),
      config.verifyEveryMs,
      'verify',
      'verify',
      { cluster, deep: false, repair: true },
      'prove every WAL copy in every store; repair from a healthy store',
    ),
    every(
      retentionScheduleId(cluster),
      config.retentionEveryMs,
      'retention',
      'retention',
      { cluster, policy },
      'delete backups past retention and the WAL only they needed',
    ),
    ...(config.drillEveryMs
      ? [
          every(
            drillScheduleId(cluster),
            config.drillEveryMs,
            'restoreDrill',
            'drill',
            { cluster, policy },
            'restore the newest state into a scratch folder, start it, check it, remove it',
          ),
        ]
      : []),
    every(
      checksScheduleId(cluster),
      config.checkEveryMs,
      'checks',
      'checks',
      { cluster, policy },
      'alert on silent hosts, failing archive_command, stale WAL, old spool files and backups',
      { catchupMs: 60_000 },
    ),
  ];
}

function hostSweep(config: Config, policy: ClusterPolicy | undefined): ScheduleOptions {
  const { cluster, hostId } = config;
  return every(
    sweepScheduleId(cluster, hostId),
    config.archiveEveryMs,
    'archiveSweep',
    'archive-sweep',
    { cluster, hostId, ...(policy ? { policy } : {}) },
    'archive whatever waits in the spool (safety net for the watcher)',
    { catchupMs: 60_000 },
  );
}

function firstArg(d: ScheduleUpdateOptions): Record<string, unknown> {
  return ((d.action.type === 'startWorkflow' ? d.action.args?.[0] : undefined) as Record<string, unknown>) ?? {};
}

/** A Schedule's input with the policy replaced, everything else as it was. */
function withPolicy(d: ScheduleUpdateOptions, policy: ClusterPolicy): ScheduleUpdateOptions {
  return { ...d, action: { ...d.action, args: [{ ...firstArg(d), policy }] } };
}

async function createOrUpdate(
  client: Client,
  def: ScheduleOptions,
  update: (prev: ScheduleDescription) => ScheduleUpdateOptions,
): Promise<ScheduleChange> {
  try {
    await client.schedule.getHandle(def.scheduleId).update(update);
    return { id: def.scheduleId, change: 'updated' };
  } catch (e) {
    if (!(e instanceof ScheduleNotFoundError)) throw e;
    await client.schedule.create(def);
    return { id: def.scheduleId, change: 'created' };
  }
}

/**
 * This cluster's Schedules that these settings no longer define: any walflow `<kind>/<cluster>`
 * Schedule (its memo says its purpose) but the ones clusterSchedules gives (an older walflow's, or a drill turned off). Host sweeps
 * (`archive-sweep/<cluster>/<host>`) are not among them: a host is retired on purpose
 * (`walflow schedules retire-host`). The backup Schedule stays where the applier has no
 * WALFLOW_PG_URL: only the database host's settings can say it should go.
 */
async function staleSchedules(client: Client, config: Config): Promise<ScheduleChange[]> {
  const wanted = new Set(clusterSchedules(config).map((d) => d.scheduleId));
  const out: ScheduleChange[] = [];
  for await (const s of client.schedule.list()) {
    const [kind, cluster, ...rest] = s.scheduleId.split('/');
    if (cluster !== config.cluster || rest.length || !kind || wanted.has(s.scheduleId)) continue;
    if (typeof s.memo?.purpose !== 'string') continue; // every walflow Schedule has said its purpose; this is not one
    if (s.scheduleId === backupScheduleId(config.cluster))
      out.push({
        id: s.scheduleId,
        change: 'kept',
        why: 'no WALFLOW_PG_URL in these settings: apply from the database host',
      });
    else
      out.push({
        id: s.scheduleId,
        change: 'deleted',
        why: kind === 'drill' ? 'WALFLOW_DRILL_EVERY=off' : 'not a Schedule this walflow defines',
      });
  }
  return out;
}

/** `walflow schedules apply`: the cluster-wide Schedules, and the policy in every host's sweep. */
export async function applySchedules(client: Client, config: Config): Promise<ScheduleChange[]> {
  const out: ScheduleChange[] = [];
  for (const def of clusterSchedules(config)) {
    out.push(
      await createOrUpdate(client, def, (prev) => ({
        ...prev,
        spec: def.spec,
        action: def.action,
        policies: { ...prev.policies, ...def.policies },
      })),
    );
  }
  const sweeps = sweepScheduleId(config.cluster, '');
  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith(sweeps)) continue;
    await client.schedule.getHandle(s.scheduleId).update((prev) => withPolicy(prev, policyOf(config)));
    out.push({ id: s.scheduleId, change: 'updated' });
  }
  for (const stale of await staleSchedules(client, config)) {
    if (stale.change === 'deleted') await deleteSchedule(client, stale.id);
    out.push(stale);
  }
  return out;
}

async function deleteSchedule(client: Client, id: string): Promise<void> {
  try {
    await client.schedule.getHandle(id).delete();
  } catch (e) {
    if (!(e instanceof ScheduleNotFoundError)) throw e; // gone already: another apply took it
  }
}

/** What `schedules apply` would change in one Schedule, in words; empty when nothing. */
function scheduleDiff(def: ScheduleOptions, prev: ScheduleDescription): string[] {
  const out: string[] = [];
  // Both in milliseconds: `every` sets numbers, and a description gives them back as numbers.
  const was = prev.spec.intervals?.[0]?.every;
  const will = def.spec.intervals?.[0]?.every;
  if (typeof was === 'number' && typeof will === 'number' && was !== will)
    out.push(`every ${formatDuration(was)} -> ${formatDuration(will)}`);
  const action = def.action as { workflowType: string; taskQueue: string; args?: unknown[] };
  const before = prev.action as { workflowType?: string; taskQueue?: string; args?: unknown[] };
  if (before.workflowType !== action.workflowType)
    out.push(`workflow ${before.workflowType} -> ${action.workflowType}`);
  if (before.taskQueue !== action.taskQueue) out.push(`task queue ${before.taskQueue} -> ${action.taskQueue}`);
  if (JSON.stringify(before.args?.[0]) !== JSON.stringify(action.args?.[0]))
    out.push(`input ${JSON.stringify(before.args?.[0])} -> ${JSON.stringify(action.args?.[0])}`);
  return out;
}

/** `walflow schedules apply --dry-run`: per cluster-wide Schedule, create, update (and how) or unchanged. */
export async function planSchedules(client: Client, config: Config): Promise<string[]> {
  const lines: string[] = [];
  for (const def of clusterSchedules(config)) {
    let prev: ScheduleDescription;
    try {
      prev = await client.schedule.getHandle(def.scheduleId).describe();
    } catch (e) {
      if (!(e instanceof ScheduleNotFoundError)) throw e;
      lines.push(`would create: ${def.scheduleId}`);
      continue;
    }
    const diff = scheduleDiff(def, prev);
    lines.push(diff.length ? `would update: ${def.scheduleId}: ${diff.join('; ')}` : `unchanged: ${def.scheduleId}`);
  }
  for (const s of await staleSchedules(client, config))
    lines.push(`${s.change === 'deleted' ? 'would delete' : 'would keep'}: ${s.id} (${s.why})`);
  return lines;
}

/** The policy `walflow schedules apply` last wrote for the cluster; undefined before the first apply. */
export async function appliedPolicy(client: Client, cluster: string): Promise<ClusterPolicy | undefined> {
  try {
    const d = await client.schedule.getHandle(retentionScheduleId(cluster)).describe();
    return resolvePolicy(firstArg(d).policy as PolicyInput | undefined);
  } catch (e) {
    if (e instanceof ScheduleNotFoundError) return undefined;
    throw e;
  }
}

/** A worker's own host sweep: its interval from this host, its policy the cluster's (kept as is while none is applied). */
export async function ensureHostSweep(
  client: Client,
  config: Config,
  policy: ClusterPolicy | undefined,
): Promise<ScheduleChange> {
  const def = hostSweep(config, policy);
  return createOrUpdate(client, def, (prev) => {
    // The action too: a Schedule made by an older walflow names the task queue that version used.
    const next: ScheduleUpdateOptions = {
      ...prev,
      spec: def.spec,
      action: { ...def.action, args: [firstArg(prev)] },
      policies: { ...prev.policies, ...def.policies },
    };
    return policy ? withPolicy(next, policy) : next;
  });
}

/**
 * `walflow schedules retire-host`: a host gone for good. Its sweep Schedule is what makes it one
 * of the cluster's hosts (the checks find hosts there), so deleting it ends the host-silent
 * checks for it. Refused while a worker still polls its queue: that host is not gone.
 */
export async function retireHostSweep(client: Client, cluster: string, hostId: string): Promise<void> {
  const live = await recentPollers(client, hostQueue(cluster, hostId));
  if (live.length)
    throw new UserError(
      `host ${hostId} is not gone: ${live.join(', ')} polls ${hostQueue(cluster, hostId)}; stop its worker first`,
    );
  const id = sweepScheduleId(cluster, hostId);
  try {
    await client.schedule.getHandle(id).delete();
  } catch (e) {
    if (!(e instanceof ScheduleNotFoundError)) throw e;
    const hosts = await clusterHosts(client, cluster);
    throw new UserError(
      `cluster ${cluster} has no host ${hostId} (no Schedule ${id}); its hosts: ${hosts.join(', ') || 'none'}`,
    );
  }
}
