// walflow status [--json]: spool backlog, newest WAL per store, PostgreSQL's archiver, open alerts.
import { and, desc, eq, isNull, sql } from 'drizzle-orm';
import { Client as PgClient } from 'pg';
import { withCatalog } from '../../db/client';
import { newestSegmentPerStore, owedPerStore } from '../../db/reports';
import { alerts, walFiles } from '../../db/schema';
import type { Config } from '../../lib/config';
import { formatDuration } from '../../lib/duration';
import { spoolStat } from '../../lib/spoolstat';

/** pg_stat_archiver's row; its counters are bigint, which arrive as text. */
interface ArchiverStats {
  archived_count: string;
  last_archived_wal: string | null;
  last_archived_time: Date | null;
  failed_count: string;
  last_failed_wal: string | null;
  last_failed_time: Date | null;
}

async function archiverStats(url: string): Promise<ArchiverStats | { error: string }> {
  const pg = new PgClient({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await pg.connect();
    const r = await pg.query<ArchiverStats>(
      'SELECT archived_count, last_archived_wal, last_archived_time, failed_count, last_failed_wal, last_failed_time FROM pg_stat_archiver',
    );
    return r.rows[0];
  } catch (e) {
    return { error: (e as Error).message };
  } finally {
    await pg.end().catch(() => undefined);
  }
}

export async function collectStatus(config: Config) {
  const { waiting, oldestAgeMs, conflicts } = spoolStat(config.spoolDir, config.cluster);
  const { newest, open, totals, owed } = await withCatalog(config.catalogUrl, async (db) => {
    const newest = await newestSegmentPerStore(db, config.cluster);
    const owed = await owedPerStore(db, config.cluster);
    const open = await db
      .select()
      .from(alerts)
      .where(and(eq(alerts.cluster, config.cluster), isNull(alerts.resolvedAt)))
      .orderBy(desc(alerts.raisedAt));
    const [totals] = await db
      .select({
        files: sql<number>`count(*)::int`,
        raw: sql<number>`coalesce(sum(${walFiles.rawSize}),0)::bigint`,
        stored: sql<number>`coalesce(sum(${walFiles.storedSize}),0)::bigint`,
      })
      .from(walFiles)
      .where(eq(walFiles.cluster, config.cluster));
    return { newest, open, totals, owed };
  });
  return {
    cluster: config.cluster,
    host: config.hostId,
    spool: { waiting, oldestAgeMs, conflicts },
    archived: { files: Number(totals.files), rawBytes: Number(totals.raw), storedBytes: Number(totals.stored) },
    stores: Object.fromEntries(
      config.stores.map((s) => {
        const n = newest.find((x) => x.store === s.name);
        const o = owed.find((x) => x.store === s.name);
        return [
          s.name,
          {
            newestSegment: n?.name ?? null,
            confirmedAt: n?.confirmedAt.toISOString() ?? null,
            owedCopies: o?.copies ?? 0,
            owedSince: o?.oldest.toISOString() ?? null,
          },
        ];
      }),
    ),
    postgres: config.pgUrl ? await archiverStats(config.pgUrl) : null,
    alerts: open.map((a) => ({
      kind: a.kind,
      key: a.key,
      message: a.message,
      raisedAt: a.raisedAt.toISOString(),
      occurrences: a.occurrences,
    })),
  };
}

/** What `walflow status --json` prints. */
export type StatusReport = Awaited<ReturnType<typeof collectStatus>>;

export async function status(config: Config, o: { json?: boolean }): Promise<void> {
  const s = await collectStatus(config);
  if (o.json) {
    process.stdout.write(JSON.stringify(s, null, 2) + '\n');
    return;
  }
  const lines = [
    `cluster ${s.cluster} on host ${s.host}`,
    `spool      ${s.spool.waiting} waiting${s.spool.waiting ? `, oldest ${formatDuration(s.spool.oldestAgeMs)}` : ''}${s.spool.conflicts ? `, ${s.spool.conflicts} in conflict/` : ''}`,
    `archived   ${s.archived.files} files, ${(s.archived.rawBytes / 2 ** 20).toFixed(1)} MiB raw -> ${(s.archived.storedBytes / 2 ** 20).toFixed(1)} MiB stored`,
    ...Object.entries(s.stores).map(
      ([name, v]) =>
        `store ${name.padEnd(5)} ${v.newestSegment ? `newest ${v.newestSegment} at ${v.confirmedAt}` : 'nothing yet'}` +
        (v.owedCopies ? `, owed ${v.owedCopies} copies since ${v.owedSince}` : ''),
    ),
  ];
  if (s.postgres) {
    const p = s.postgres;
    lines.push(
      'error' in p
        ? `postgres   unreachable: ${p.error}`
        : `postgres   archived ${p.archived_count} (last ${p.last_archived_wal ?? '-'}), failed ${p.failed_count} (last ${p.last_failed_wal ?? '-'})`,
    );
  }
  lines.push(s.alerts.length ? `alerts     ${s.alerts.length} open` : 'alerts     none open');
  for (const a of s.alerts) lines.push(`  [${a.kind}] ${a.message} (since ${a.raisedAt}, x${a.occurrences})`);
  process.stdout.write(lines.join('\n') + '\n');
}
