// walflow drill [--check SQL] [--json]: runs a restore drill now and reports the time to recover.
import type { Config } from '../../lib/config';
import { policyOf } from '../../lib/policy';
import { connectClient, workflowOutcome } from '../../lib/temporal';
import { DrillResult, drillScheduleId, SHARED_QUEUE } from '../../lib/contracts';

export async function drill(config: Config, o: { check?: string; json?: boolean }): Promise<void> {
  const client = await connectClient(config);
  try {
    const workflowId = `${drillScheduleId(config.cluster)}/${new Date().toISOString()}`;
    const policy = policyOf(config);
    const checkQuery = o.check ?? policy.drill.checkQuery;
    process.stderr.write(`drill started: ${workflowId} (restore on ${policy.drill.hostId}, check "${checkQuery}")\n`);
    const result = (await workflowOutcome(
      'drill',
      workflowId,
      client.workflow.execute('restoreDrill', {
        taskQueue: SHARED_QUEUE,
        workflowId,
        args: [{ cluster: config.cluster, checkQuery, policy }],
        memo: { cluster: config.cluster, trigger: 'walflow drill' },
      }),
    )) as DrillResult;
    if (o.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else {
      process.stdout.write(
        `drill ok: recovered from backup ${result.backupId} in ${result.secondsToRecover?.toFixed(1)}s` +
          ` (${result.phases?.map((p) => `${p.phase} ${p.seconds.toFixed(1)}s`).join(', ')})\n`,
      );
      process.stdout.write(
        `  reached ${result.reachedLsn ?? '?'} ${result.reachedTime ?? ''}; check: ${result.check?.query} -> ${JSON.stringify(result.check?.first)}\n`,
      );
    }
  } finally {
    await client.connection.close();
  }
}
