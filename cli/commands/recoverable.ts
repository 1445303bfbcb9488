// walflow recoverable [--timeline N] [--json]: per timeline, the windows a restore can reach,
// read from the catalog's backups and the segments' indexes.
import { loadWindows } from '../../db/windows';
import { withCatalog } from '../../db/client';
import type { Config } from '../../lib/config';
import { UserError } from '../../lib/errors';
import type { TimelineWindows } from '../../lib/wal/windows';

export async function collectWindows(config: Config): Promise<TimelineWindows[]> {
  return withCatalog(config.catalogUrl, (db) => loadWindows(db, config.cluster));
}

export async function recoverable(config: Config, o: { timeline?: string; json?: boolean }): Promise<void> {
  const only = o.timeline === undefined ? undefined : Number(o.timeline);
  if (only !== undefined && !(Number.isInteger(only) && only >= 1))
    throw new UserError(`--timeline ${o.timeline}: give a timeline number such as 1 or 2`);
  const all = await collectWindows(config);
  const shown = only === undefined ? all : all.filter((t) => t.timeline === only);
  if (o.json) {
    process.stdout.write(JSON.stringify(shown, null, 2) + '\n');
    return;
  }
  if (shown.length === 0) {
    process.stdout.write(
      only === undefined ? `nothing archived for ${config.cluster} yet\n` : `timeline ${only} has no archived WAL\n`,
    );
    return;
  }
  const lines: string[] = [];
  for (const t of shown) {
    lines.push(`timeline ${t.timeline}`);
    if (t.windows.length === 0)
      lines.push('  no window: no complete backup on this timeline (run walflow backup --wait)');
    for (const w of t.windows) {
      const from = w.from.backupId
        ? `end of backup ${w.from.backupId} at ${w.from.time} (${w.from.lsn})`
        : `branch from timeline ${w.from.parentTimeline} at ${w.from.lsn}`;
      const to = w.to.lastCommit ? `last commit ${w.to.lastCommit}` : 'no commit archived yet';
      lines.push(`  from ${from}`);
      lines.push(
        `  to   ${to} (WAL to ${w.to.lsn}, ${w.to.segment}, ${w.segments} segments)${w.exact ? '' : ' [some segments have no index: the end may be later]'}`,
      );
      for (const p of w.restorePoints)
        lines.push(`    restore point ${JSON.stringify(p.name)} at ${p.time} (${p.lsn})`);
      if (w.restorePointsUncounted) lines.push(`    and ${w.restorePointsUncounted} more restore points`);
    }
    for (const g of t.gaps)
      lines.push(`  gap: ${g.from === g.to ? g.from : `${g.from} .. ${g.to}`} missing from the archive`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}
