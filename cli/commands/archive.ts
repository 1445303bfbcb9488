// walflow archive [--wait]: start a sweep now; with --wait, show progress until the spool is empty.
import { SingleBar, Presets } from 'cli-progress';
import type { Config } from '../../lib/config';
import { spoolStat } from '../../lib/spoolstat';
import { connectClient } from '../../lib/temporal';
import { SHARED_QUEUE, sweepScheduleId } from '../../workflows/shared';

export async function archive(config: Config, o: { wait?: boolean }): Promise<void> {
  const client = await connectClient(config);
  try {
    const workflowId = `${sweepScheduleId(config.cluster, config.hostId)}/manual-${new Date().toISOString()}`;
    await client.workflow.start('archiveSweep', {
      taskQueue: SHARED_QUEUE, workflowId, args: [{ cluster: config.cluster, hostId: config.hostId }],
      memo: { cluster: config.cluster, host: config.hostId, trigger: 'walflow archive' },
    });
    process.stderr.write(`sweep started: ${workflowId}\n`);
    if (!o.wait) return;
    const total = Math.max(spoolStat(config.spoolDir, config.cluster).waiting, 1);
    const bar = new SingleBar({ format: 'archiving {bar} {value}/{total} files | {waiting} waiting', stream: process.stderr }, Presets.shades_classic);
    bar.start(total, 0, { waiting: total });
    for (;;) {
      const { waiting } = spoolStat(config.spoolDir, config.cluster);
      bar.setTotal(Math.max(total, waiting));
      bar.update(Math.max(total - waiting, 0), { waiting });
      if (waiting === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    bar.stop();
    process.stderr.write('spool is empty: every file is in every store\n');
  } finally {
    await client.connection.close();
  }
}
