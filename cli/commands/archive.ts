// walflow archive [--wait]: start a sweep now; with --wait, show progress until the spool is empty.
import type { Config } from '../../lib/config';
import { waitForEmptySpool } from '../spoolprogress';
import { policyOf } from '../../lib/policy';
import { connectClient, requireClusterWorker } from '../../lib/temporal';
import { sweepScheduleId } from '../../lib/contracts';
import { startOptions } from '../../lib/workflowstart';
import type { archiveSweep } from '../../workflows/archive';

export async function archive(config: Config, o: { wait?: boolean }): Promise<void> {
  const client = await connectClient(config);
  try {
    await requireClusterWorker(client, config.cluster);
    const workflowId = `${sweepScheduleId(config.cluster, config.hostId)}/manual-${new Date().toISOString()}`;
    await client.workflow.start<typeof archiveSweep>('archiveSweep', {
      ...startOptions({
        kind: 'archive-sweep',
        cluster: config.cluster,
        host: config.hostId,
        workflowId,
        memo: { trigger: 'walflow archive' },
      }),
      args: [{ cluster: config.cluster, hostId: config.hostId, policy: policyOf(config) }],
    });
    process.stderr.write(`sweep started: ${workflowId}\n`);
    if (!o.wait) return;
    await waitForEmptySpool(config.spoolDir, config.cluster, process.stderr);
    process.stderr.write('spool is empty: every file is in every store\n');
  } finally {
    await client.connection.close();
  }
}
