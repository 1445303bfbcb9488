// Every walflow Schedule, created or updated idempotently (`walflow schedules apply`, worker start).
import { Client, ScheduleNotFoundError, ScheduleOptions, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Config } from '../lib/config';
import { backupScheduleId, backupWorkflowId } from '../workflows/pitr-types';
import { drillScheduleId, retentionScheduleId, SHARED_QUEUE, sweepScheduleId, verifyScheduleId } from '../workflows/shared';

export function scheduleDefinitions(config: Config): ScheduleOptions[] {
  const { cluster, hostId } = config;
  return [
    // Only where this worker can reach PostgreSQL (WALFLOW_PG_URL): the backup runs on its host.
    ...(config.pgUrl ? [<ScheduleOptions>{
      scheduleId: backupScheduleId(cluster),
      spec: { intervals: [{ every: config.backupEveryMs }] },
      action: {
        type: 'startWorkflow', workflowType: 'baseBackup', taskQueue: SHARED_QUEUE,
        workflowId: backupWorkflowId(cluster, 'scheduled'), args: [{ cluster, hostId }], memo: { cluster, host: hostId },
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
      memo: { cluster, host: hostId, purpose: 'base backup into every store; complete once its WAL is archived' },
    }] : []),
    {
      scheduleId: sweepScheduleId(cluster, hostId),
      spec: { intervals: [{ every: config.archiveEveryMs }] },
      action: {
        type: 'startWorkflow', workflowType: 'archiveSweep', taskQueue: SHARED_QUEUE,
        workflowId: sweepScheduleId(cluster, hostId), args: [{ cluster, hostId }],
        memo: { cluster, host: hostId },
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
      memo: { cluster, host: hostId, purpose: 'archive whatever waits in the spool (safety net for the watcher)' },
    },
    {
      scheduleId: verifyScheduleId(cluster),
      spec: { intervals: [{ every: config.verifyEveryMs }] },
      action: {
        type: 'startWorkflow', workflowType: 'verify', taskQueue: SHARED_QUEUE,
        workflowId: verifyScheduleId(cluster), args: [{ cluster }], memo: { cluster },
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
      memo: { cluster, purpose: 'prove every WAL copy in every store; repair from a healthy store' },
    },
    {
      scheduleId: retentionScheduleId(cluster),
      spec: { intervals: [{ every: config.retentionEveryMs }] },
      action: {
        type: 'startWorkflow', workflowType: 'retention', taskQueue: SHARED_QUEUE,
        workflowId: retentionScheduleId(cluster), args: [{ cluster }], memo: { cluster },
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
      memo: { cluster, purpose: 'delete backups past retention and the WAL only they needed' },
    },
    {
      scheduleId: drillScheduleId(cluster),
      spec: { intervals: [{ every: config.drillEveryMs }] },
      action: {
        type: 'startWorkflow', workflowType: 'restoreDrill', taskQueue: SHARED_QUEUE,
        workflowId: drillScheduleId(cluster), args: [{ cluster, hostId: config.drillHostId }], memo: { cluster },
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
      memo: { cluster, purpose: 'restore the newest state into a scratch folder, start it, check it, remove it' },
    },
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
