// Every walflow Schedule, created or updated idempotently (`walflow schedules apply`, worker start).
import { Client, ScheduleNotFoundError, ScheduleOptions, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Config } from '../lib/config';
import { backupScheduleId, backupWorkflowId } from '../workflows/pitr-types';
import { drillScheduleId, retentionScheduleId, SHARED_QUEUE, sweepScheduleId, verifyScheduleId } from '../workflows/shared';

/** One interval Schedule starting one workflow type on the shared queue; a run never overlaps the last. */
function every(
  scheduleId: string, everyMs: number, workflowType: string, input: Record<string, unknown>,
  purpose: string, { catchupMs = 3_600_000, workflowId = scheduleId } = {},
): ScheduleOptions {
  const memo = { cluster: input.cluster, ...(input.hostId ? { host: input.hostId } : {}) };
  return {
    scheduleId,
    spec: { intervals: [{ every: everyMs }] },
    action: { type: 'startWorkflow', workflowType, taskQueue: SHARED_QUEUE, workflowId, args: [input], memo },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: catchupMs },
    memo: { ...memo, purpose },
  };
}

export function scheduleDefinitions(config: Config): ScheduleOptions[] {
  const { cluster, hostId } = config;
  return [
    // Only where this worker can reach PostgreSQL (WALFLOW_PG_URL): the backup runs on its host.
    ...(config.pgUrl ? [every(backupScheduleId(cluster), config.backupEveryMs, 'baseBackup', { cluster, hostId },
      'base backup into every store; complete once its WAL is archived',
      { workflowId: backupWorkflowId(cluster, 'scheduled') })] : []),
    every(sweepScheduleId(cluster, hostId), config.archiveEveryMs, 'archiveSweep', { cluster, hostId },
      'archive whatever waits in the spool (safety net for the watcher)', { catchupMs: 60_000 }),
    every(verifyScheduleId(cluster), config.verifyEveryMs, 'verify', { cluster },
      'prove every WAL copy in every store; repair from a healthy store'),
    every(retentionScheduleId(cluster), config.retentionEveryMs, 'retention', { cluster },
      'delete backups past retention and the WAL only they needed'),
    every(drillScheduleId(cluster), config.drillEveryMs, 'restoreDrill', { cluster, hostId: config.drillHostId },
      'restore the newest state into a scratch folder, start it, check it, remove it'),
  ];
}

export async function applySchedules(client: Client, config: Config): Promise<{ id: string; change: 'created' | 'updated' }[]> {
  const out: { id: string; change: 'created' | 'updated' }[] = [];
  for (const def of scheduleDefinitions(config)) {
    const handle = client.schedule.getHandle(def.scheduleId);
    try {
      await handle.update((prev) => ({ ...prev, spec: def.spec, action: def.action, policies: { ...prev.policies, ...def.policies } }));
      out.push({ id: def.scheduleId, change: 'updated' });
    } catch (e) {
      if (!(e instanceof ScheduleNotFoundError)) throw e;
      await client.schedule.create(def);
      out.push({ id: def.scheduleId, change: 'created' });
    }
  }
  return out;
}
