// walflow archive [--wait]: start a sweep now; with --wait, show progress until the spool is empty.
import type { Config } from '../../lib/config';
import { waitForEmptySpool } from '../spoolprogress';
import { policyOf } from '../../lib/policy';
import { connectClient } from '../../lib/temporal';
import { SHARED_QUEUE, sweepScheduleId } from '../../lib/contracts';

export async function archive(config: Config, o: { wait?: boolean }): Promise<void> {
  const client = await connectClient(config);
  try {
    const workflowId = `${sweepScheduleId(config.cluster, config.hostId)}/manual-${new Date().toISOString()}`;
    await client.workflow.start('archiveSweep', {
      taskQueue: SHARED_QUEUE,
      workflowId,
      args: [{ cluster: config.cluster, hostId: config.hostId, policy: policyOf(config) }],
      memo: { cluster: config.cluster, host: config.hostId, trigger: 'walflow archive' },
    });
    process.stderr.write(`sweep started: ${workflowId}\n`);
    if (!o.wait) return;
    await waitForEmptySpool(config.spoolDir, config.cluster, process.stderr);
    process.stderr.write('spool is empty: every file is in every store\n');
  } finally {
    await client.connection.close();
  }
}
