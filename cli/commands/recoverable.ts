// walflow recoverable [--timeline N] [--json]: per timeline, the windows a restore can reach,
// read from the catalog's backups and the segments' indexes.
import { and, eq } from 'drizzle-orm';
import { migrateCatalog, openCatalog } from '../../db/client';
import { backups, walFiles } from '../../db/schema';
import type { Config } from '../../lib/config';
import { UserError } from '../../lib/errors';
import { asIndex } from '../../lib/wal/segmentindex';
import { recoverableWindows, TimelineWindows } from '../../lib/wal/windows';

export async function collectWindows(config: Config): Promise<TimelineWindows[]> {
  const db = openCatalog(config.catalogUrl);
  try {
    await migrateCatalog(db);
    const rows = await db.select({
      timeline: walFiles.timeline, name: walFiles.name, startLsn: walFiles.startLsn, rawSize: walFiles.rawSize, walIndex: walFiles.walIndex,
    }).from(walFiles).where(and(eq(walFiles.cluster, config.cluster), eq(walFiles.kind, 'segment')));
    const complete = await db.select().from(backups).where(and(eq(backups.cluster, config.cluster), eq(backups.status, 'complete')));
    if (rows.length === 0) return [];
    // Every segment file is exactly one segment long: its raw size is the cluster's segment size.
    const segmentSize = rows[0].rawSize;
    return recoverableWindows(
      rows.filter((r) => r.startLsn !== null).map((r) => ({
        timeline: r.timeline, name: r.name, startLsn: r.startLsn!,
        index: asIndex(r.walIndex) ?? null,
      })),
      complete.filter((b) => b.timeline !== null && b.stopLsn !== null && b.stoppedAt !== null).map((b) => ({
        backupId: b.backupId, timeline: b.timeline!, stopLsn: b.stopLsn!, stoppedAt: b.stoppedAt!.toISOString(),
      })),
      segmentSize,
    );
  } catch (e) {
    if ((e as { code?: string }).code === 'ECONNREFUSED') throw new UserError(`catalog at ${config.catalogUrl} is unreachable; start it or fix WALFLOW_CATALOG_URL`);
    throw e;
  } finally {
    await db.$client.end();
  }
}

export async function recoverable(config: Config, o: { timeline?: string; json?: boolean }): Promise<void> {
  const only = o.timeline === undefined ? undefined : Number(o.timeline);
  if (only !== undefined && !(Number.isInteger(only) && only >= 1)) throw new UserError(`--timeline ${o.timeline}: give a timeline number such as 1 or 2`);
  const all = await collectWindows(config);
  const shown = only === undefined ? all : all.filter((t) => t.timeline === only);
  if (o.json) {
    process.stdout.write(JSON.stringify(shown, null, 2) + '\n');
    return;
  }
  if (shown.length === 0) {
    process.stdout.write(only === undefined ? `nothing archived for ${config.cluster} yet\n` : `timeline ${only} has no archived WAL\n`);
    return;
  }
  const lines: string[] = [];
  for (const t of shown) {
    lines.push(`timeline ${t.timeline}`);
    if (t.windows.length === 0) lines.push('  no window: no complete backup on this timeline (run walflow backup --wait)');
    for (const w of t.windows) {
      const from = w.from.backupId ? `end of backup ${w.from.backupId} at ${w.from.time} (${w.from.lsn})` : `branch from timeline ${w.from.parentTimeline} at ${w.from.lsn}`;
      const to = w.to.lastCommit ? `last commit ${w.to.lastCommit}` : 'no commit archived yet';
      lines.push(`  from ${from}`);
      lines.push(`  to   ${to} (WAL to ${w.to.lsn}, ${w.to.segment}, ${w.segments} segments)${w.exact ? '' : ' [some segments have no index: the end may be later]'}`);
      for (const p of w.restorePoints) lines.push(`    restore point ${JSON.stringify(p.name)} at ${p.time} (${p.lsn})`);
      if (w.restorePointsUncounted) lines.push(`    and ${w.restorePointsUncounted} more restore points`);
    }
    for (const g of t.gaps) lines.push(`  gap: ${g.from === g.to ? g.from : `${g.from} .. ${g.to}`} missing from the archive`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}
