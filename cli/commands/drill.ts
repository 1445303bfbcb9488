// walflow drill [--check SQL] [--json]: runs a restore drill now and reports the time to recover.
import type { Config } from '../../lib/config';
import { policyOf } from '../../lib/policy';
import { connectClient, requireClusterWorker, workflowOutcome } from '../../lib/temporal';
import { DrillResult, drillScheduleId } from '../../lib/contracts';
import { startOptions } from '../../lib/workflowstart';
import type { restoreDrill } from '../../workflows/drill';

export async function drill(config: Config, o: { check?: string; json?: boolean }): Promise<void> {
  const client = await connectClient(config);
  try {
    await requireClusterWorker(client, config.cluster);
    const workflowId = `${drillScheduleId(config.cluster)}/${new Date().toISOString()}`;
    const policy = policyOf(config);
    const checkQuery = o.check ?? policy.drill.checkQuery;
    process.stderr.write(`drill started: ${workflowId} (restore on ${policy.drill.hostId}, check "${checkQuery}")\n`);
    const result: DrillResult = await workflowOutcome(
      'drill',
      workflowId,
      client.workflow.execute<typeof restoreDrill>('restoreDrill', {
        ...startOptions({
          kind: 'drill',
          cluster: config.cluster,
          host: policy.drill.hostId,
          workflowId,
          memo: { trigger: 'walflow drill' },
        }),
        args: [{ cluster: config.cluster, checkQuery, policy }],
      }),
    );
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
