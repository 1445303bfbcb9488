// Activities of the periodic checks. Which hosts a cluster has and when they last polled come
// from Temporal, the newest archived WAL from the catalog: any worker answers those. The host
// report (spool, PostgreSQL's archiver) runs on the host's own queue, since only that host holds
// the spool and WALFLOW_PG_URL; the checks workflow raises the alerts from the shared queue, so a
// dead host is noticed by its silence rather than by its own report.
import { Context } from '@temporalio/activity';
import { desc, eq } from 'drizzle-orm';
import { Client as PgClient } from 'pg';
import type { Catalog } from '../db/client';
import { walFiles } from '../db/schema';
import type { Config } from '../lib/config';
import { ArchiverReport, hostQueue, HostReport, NewestArchived } from '../lib/contracts';
import { spoolStat } from '../lib/spoolstat';
import { clusterHosts, lastPollAgeMs } from '../lib/temporal';

const iso = (d: Date | null) => d?.toISOString() ?? null;

async function readArchiver(url: string, after: string): Promise<ArchiverReport> {
  const pg = new PgClient({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await pg.connect();
  try {
    const [a] = (
      await pg.query<{
        last_archived_wal: string | null;
        last_archived_time: Date | null;
        last_failed_wal: string | null;
        last_failed_time: Date | null;
        in_recovery: boolean;
      }>(
        'SELECT last_archived_wal, last_archived_time, last_failed_wal, last_failed_time, pg_is_in_recovery() AS in_recovery FROM pg_stat_archiver',
      )
    ).rows;
    // Segments before the one being written are finished; their files' last change is when.
    // A standby writes no WAL of its own. pg_ls_waldir needs pg_monitor (or superuser): without
    // it the failure checks still run, and the report says why staleness could not be judged.
    let oldest: { name: string; age_ms: string } | undefined;
    let walDirError: string | null = null;
    if (!a.in_recovery) {
      try {
        [oldest] = (
          await pg.query<{ name: string; age_ms: string }>(
            `SELECT name, (extract(epoch FROM now() - modification) * 1000)::bigint::text AS age_ms FROM pg_ls_waldir()
              WHERE name ~ '^[0-9A-F]{24}$' AND name > $1 AND name < pg_walfile_name(pg_current_wal_lsn())
              ORDER BY name LIMIT 1`,
            [after],
          )
        ).rows;
      } catch (e) {
        walDirError = (e as Error).message;
      }
    }
    return {
      lastArchivedWal: a.last_archived_wal,
      lastArchivedAt: iso(a.last_archived_time),
      lastFailedWal: a.last_failed_wal,
      lastFailedAt: iso(a.last_failed_time),
      oldestUnarchived: oldest ? { name: oldest.name, ageMs: Number(oldest.age_ms) } : null,
      walDirError,
    };
  } finally {
    await pg.end().catch(() => undefined);
  }
}

export function checkActivities(config: Config, db: () => Catalog) {
  return {
    /** The hosts of a cluster: every host's worker keeps its archive-sweep Schedule. */
    async clusterHosts({ cluster }: { cluster: string }): Promise<string[]> {
      return clusterHosts(Context.current().client, cluster);
    },

    async hostLastPoll({ cluster, hostId }: { cluster: string; hostId: string }): Promise<number | null> {
      return lastPollAgeMs(Context.current().client, hostQueue(cluster, hostId));
    },

    async newestArchived({ cluster }: { cluster: string }): Promise<NewestArchived | null> {
      const [w] = await db()
        .select({ name: walFiles.name, archivedAt: walFiles.archivedAt })
        .from(walFiles)
        .where(eq(walFiles.cluster, cluster))
        .orderBy(desc(walFiles.name))
        .limit(1);
      return w?.archivedAt ? { name: w.name, ageMs: Date.now() - w.archivedAt.getTime() } : null;
    },

    /** Host side: the spool, and PostgreSQL's archiver where this host reaches it. */
    async hostReport({ cluster, after }: { cluster: string; after: string }): Promise<HostReport> {
      const { waiting, oldestAgeMs } = spoolStat(config.spoolDir, cluster);
      let postgres: HostReport['postgres'] = null;
      if (config.pgUrl) {
        try {
          postgres = await readArchiver(config.pgUrl, after);
        } catch (e) {
          postgres = { error: (e as Error).message };
        }
      }
      return { spool: { waiting, oldestAgeMs }, postgres };
    },
  };
}
