// A progress bar over a spool until it is empty: `walflow archive --wait` and the demo.
import { Presets, SingleBar } from 'cli-progress';
import { spoolStat } from '../lib/spoolstat';

export async function waitForEmptySpool(
  spoolDir: string,
  cluster: string,
  stream: NodeJS.WriteStream,
  indent = '',
): Promise<void> {
  const total = Math.max(spoolStat(spoolDir, cluster).waiting, 1);
  const bar = new SingleBar(
    { format: `${indent}archiving {bar} {value}/{total} files | {waiting} waiting`, stream },
    Presets.shades_classic,
  );
  bar.start(total, 0, { waiting: total });
  for (;;) {
    const { waiting } = spoolStat(spoolDir, cluster);
    bar.setTotal(Math.max(total, waiting));
    bar.update(Math.max(total - waiting, 0), { waiting });
    if (waiting === 0) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  bar.stop();
}
