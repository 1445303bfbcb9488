// Real 16 MiB WAL segments from pgbench: a PostgreSQL whose archive_command copies every
// finished segment into a folder. The same cluster later serves pgBackRest's stanza and the
// live switch-to-store latency run, so every tool sees WAL of one system identifier.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PgCluster, startCopyArchiving } from '../../lib/devstack/pgcluster';
import { pgBin, sleep } from '../../lib/devstack/procs';
import { log, MiB, runAsPostgres } from './util';

const SEGMENT = /^[0-9A-F]{24}$/;

export interface Source {
  pg: PgCluster;
  archiveDir: string;
}

export async function startSource(dir: string): Promise<Source> {
  return startCopyArchiving(path.join(dir, 'src'), [
    'max_wal_senders = 4',
    // Frequent checkpoints: full-page images, as a busy production cluster writes them.
    'max_wal_size = 128MB',
    'min_wal_size = 64MB',
    'checkpoint_timeout = 30s',
    'synchronous_commit = off',
    'shared_buffers = 256MB',
  ]);
}

export function archivedSegments(archiveDir: string): string[] {
  return fs
    .readdirSync(archiveDir)
    .filter((n) => SEGMENT.test(n))
    .sort()
    .filter((n) => {
      try {
        return fs.statSync(path.join(archiveDir, n)).size === 16 * MiB;
      } catch {
        return false;
      }
    });
}

/**
 * Runs pgbench (initialise, then TPC-B-like transactions) beside bulk UPDATEs of its accounts
 * table (on a loaded 2-CPU machine pgbench alone makes a segment every few seconds) until the
 * archive holds `want` full segments, or `maxSeconds` have passed. Returns the paths of the
 * newest `want` segments (the transaction workload rather than the initial COPY).
 */
export async function generateSegments(src: Source, want: number, maxSeconds = 300): Promise<string[]> {
  const deadline = Date.now() + maxSeconds * 1000;
  const pgbench = pgBin('pgbench');
  const conn = ['-h', '127.0.0.1', '-p', String(src.pg.port), '-U', 'postgres'];
  const init = await runAsPostgres(pgbench, [...conn, '-i', '-s', '10', '-q', 'postgres']);
  if (init.code !== 0) throw new Error(`pgbench -i failed:\n${init.out}`);
  const initial = archivedSegments(src.archiveDir).length;
  // Keep a few extra: segments still being archived, and the mostly-COPY ones of the init.
  const target = want + initial + 2;
  const enough = () => archivedSegments(src.archiveDir).length >= target || Date.now() > deadline;
  const rounds = (async () => {
    for (let round = 1; !enough(); round++) {
      log(`pgbench round ${round}: ${archivedSegments(src.archiveDir).length}/${target} segments archived`);
      const r = await runAsPostgres(pgbench, [...conn, '-c', '4', '-j', '2', '-T', '8', '-n', 'postgres']);
      if (r.code !== 0) throw new Error(`pgbench failed:\n${r.out}`);
    }
  })();
  rounds.catch(() => undefined); // awaited below; not unhandled if an UPDATE fails first
  for (let k = 0; !enough(); k = (k + 1) % 8) {
    await src.pg.query(`UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 8 = $1`, [k]);
  }
  await rounds;
  const all = archivedSegments(src.archiveDir);
  if (all.length < Math.min(want, 16))
    throw new Error(`only ${all.length} segments after ${maxSeconds}s of pgbench; need at least 16`);
  const chosen = all.slice(-Math.min(want, all.length));
  if (chosen.length < want) log(`warning: only ${chosen.length} of ${want} segments in time; measuring those`);
  return chosen.map((n) => path.join(src.archiveDir, n));
}

/** Waits until PostgreSQL has handed over every finished segment to its archive_command. */
export async function waitNoReady(src: Source, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [r] = await src.pg.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'`,
    );
    if (r.n === 0) return;
    if (Date.now() > deadline)
      throw new Error(`the source cluster still has ${r.n} segment(s) to archive after ${timeoutMs / 1000}s`);
    await sleep(100);
  }
}
