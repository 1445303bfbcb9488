// walflow drill [--check SQL] [--json]: runs a restore drill now and reports the time to recover.
import { WorkflowFailedError } from '@temporalio/client';
import type { Config } from '../../lib/config';
import { UserError } from '../../lib/errors';
import { policyOf } from '../../lib/policy';
import { connectClient, requireClusterWorker } from '../../lib/temporal';
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
    let result: DrillResult;
    try {
      result = await client.workflow.execute<typeof restoreDrill>('restoreDrill', {
        ...startOptions({
          kind: 'drill',
          cluster: config.cluster,
          host: policy.drill.hostId,
          workflowId,
          memo: { trigger: 'walflow drill' },
        }),
        args: [{ cluster: config.cluster, checkQuery, policy }],
      });
    } catch (e) {
      if (e instanceof WorkflowFailedError)
        throw new UserError(`${e.cause?.message ?? e.message} (see 'walflow alerts' and the workflow ${workflowId})`);
      throw e;
    }
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
