// walflow status --all [--json]: every cluster on the Temporal namespace and in the catalog, one
// line each: spool (as the newest archive-sweep of each host saw it), newest WAL per store, last
// complete backup, open alerts.
import type { Client } from '@temporalio/client';
import { sql } from 'drizzle-orm';
import { Catalog, migrateCatalog, openCatalog } from '../../db/client';
import { newestCompleteBackup, newestSegmentPerStore, openAlertsByKind } from '../../db/reports';
import type { Config } from '../../lib/config';
import { formatDuration } from '../../lib/duration';
import { UserError } from '../../lib/errors';
import { connectClient } from '../../lib/temporal';
import { SEARCH_ATTRIBUTES } from '../../lib/workflowstart';

/** How many of a cluster's newest sweeps to read for the spool of each of its hosts. */
const SWEEPS_READ = 20;

interface SpoolSeen {
  waiting: number;
  oldestAgeMs: number | null;
  /** When the newest sweep read it. */
  at: string;
  hosts: string[];
}

export interface ClusterLine {
  cluster: string;
  spool: SpoolSeen | null;
  stores: Record<string, { newestSegment: string; confirmedAt: string }>;
  lastBackup: { backupId: string; completedAt: string } | null;
  openAlerts: number;
}

/** Distinct clusters of the WAL table by a loose index scan: one index probe per cluster, not a pass over every file. */
async function catalogClusters(db: Catalog): Promise<string[]> {
  const r = await db.execute<{ cluster: string }>(sql`
    WITH RECURSIVE c AS (
      SELECT min(cluster) AS cluster FROM wal_files
      UNION ALL
      SELECT (SELECT min(cluster) FROM wal_files WHERE cluster > c.cluster) FROM c WHERE c.cluster IS NOT NULL
    )
    SELECT cluster FROM c WHERE cluster IS NOT NULL
    UNION SELECT DISTINCT cluster FROM backups
    UNION SELECT DISTINCT cluster FROM alerts WHERE resolved_at IS NULL`);
  return r.rows.map((x) => x.cluster);
}

async function scheduleClusters(client: Client): Promise<string[]> {
  const out: string[] = [];
  for await (const s of client.schedule.list()) {
    const cluster = s.memo?.cluster;
    if (typeof cluster === 'string') out.push(cluster);
  }
  return out;
}

async function spoolSeen(client: Client, cluster: string): Promise<SpoolSeen | null> {
  const { cluster: byCluster, kind } = SEARCH_ATTRIBUTES;
  const query = `${byCluster.name} = ${JSON.stringify(cluster)} AND ${kind.name} = "archive-sweep"`;
  const perHost = new Map<string, { waiting: number; oldestAgeMs: number | null; at: Date }>();
  let read = 0;
  for await (const w of client.workflow.list({ query })) {
    const memo = w.memo ?? {};
    const host = typeof memo.host === 'string' ? memo.host : '?';
    if (!perHost.has(host) && typeof memo.waiting === 'number')
      perHost.set(host, {
        waiting: memo.waiting,
        oldestAgeMs: typeof memo.oldestAgeMs === 'number' ? memo.oldestAgeMs : null,
        at: w.startTime,
      });
    if (++read >= SWEEPS_READ) break;
  }
  if (!perHost.size) return null;
  const seen = [...perHost.values()];
  const ages = seen.map((s) => s.oldestAgeMs).filter((a): a is number => a !== null);
  return {
    waiting: seen.reduce((n, s) => n + s.waiting, 0),
    oldestAgeMs: ages.length ? Math.max(...ages) : null,
    at: new Date(Math.min(...seen.map((s) => s.at.getTime()))).toISOString(),
    hosts: [...perHost.keys()].sort(),
  };
}

export async function collectAll(config: Config): Promise<ClusterLine[]> {
  const db = openCatalog(config.catalogUrl);
  const client = await connectClient(config);
  try {
    await migrateCatalog(db);
    const clusters = [...new Set([...(await catalogClusters(db)), ...(await scheduleClusters(client))])].sort();
    const lines: ClusterLine[] = [];
    for (const cluster of clusters) {
      const backup = await newestCompleteBackup(db, cluster);
      lines.push({
        cluster,
        spool: await spoolSeen(client, cluster),
        stores: Object.fromEntries(
          (await newestSegmentPerStore(db, cluster)).map((s) => [
            s.store,
            { newestSegment: s.name, confirmedAt: s.confirmedAt.toISOString() },
          ]),
        ),
        lastBackup: backup ? { backupId: backup.backupId, completedAt: backup.completedAt.toISOString() } : null,
        openAlerts: (await openAlertsByKind(db, cluster)).reduce((n, a) => n + a.open, 0),
      });
    }
    return lines;
  } catch (e) {
    if ((e as { code?: string }).code === 'ECONNREFUSED')
      throw new UserError(`catalog at ${config.catalogUrl} is unreachable; start it or fix WALFLOW_CATALOG_URL`);
    throw e;
  } finally {
    await client.connection.close();
    await db.$client.end();
  }
}

export async function statusAll(config: Config, o: { json?: boolean }): Promise<void> {
  const lines = await collectAll(config);
  if (o.json) {
    process.stdout.write(JSON.stringify(lines, null, 2) + '\n');
    return;
  }
  if (!lines.length) {
    process.stdout.write(`no clusters in the catalog or on namespace ${config.temporalNamespace} yet\n`);
    return;
  }
  const now = Date.now();
  const ago = (iso: string) => `${formatDuration(now - Date.parse(iso))} ago`;
  const width = Math.max(...lines.map((l) => l.cluster.length));
  for (const l of lines) {
    const spool = l.spool
      ? `spool ${l.spool.waiting} waiting${l.spool.oldestAgeMs ? ` (oldest ${formatDuration(l.spool.oldestAgeMs)})` : ''} at last sweep ${ago(l.spool.at)}`
      : 'spool unknown (no sweep yet)';
    const stores = Object.entries(l.stores).length
      ? Object.entries(l.stores)
          .map(([s, v]) => `${s} ${v.newestSegment}`)
          .join(', ')
      : 'no WAL archived';
    const backup = l.lastBackup ? `backup ${l.lastBackup.backupId} ${ago(l.lastBackup.completedAt)}` : 'no backup';
    process.stdout.write(
      `${l.cluster.padEnd(width)}  ${spool}; ${stores}; ${backup}; ${l.openAlerts ? `${l.openAlerts} open alert(s)` : 'no open alerts'}\n`,
    );
  }
}
