// Real WAL for reader tests: a PostgreSQL (1 MiB segments, so records cross segment boundaries
// often) whose archive_command copies every finished segment into a folder, and pg_waldump's
// account of the same WAL as the oracle.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { PgCluster, startCopyArchiving } from '../../lib/devstack/pgcluster';
import { pgBin, postgresUser } from '../../lib/devstack/procs';
import { parseLsn } from '../../lib/wal/lsn';

export const SEGMENT_NAME = /^[0-9A-F]{24}$/;

const asPostgres = () => ({
  cwd: '/',
  ...(postgresUser() ?? {}),
  env: { ...process.env, HOME: '/var/lib/postgresql', TZ: 'UTC' },
});

export interface WalSource {
  pg: PgCluster;
  archiveDir: string;
}

/** initdb with the given WAL segment size, archive_command copying into `<dir>/archive`, started. */
export async function startWalSource(dir: string, segmentSizeMiB: number, conf: string[] = []): Promise<WalSource> {
  return startCopyArchiving(dir, ['timezone = UTC', ...conf], { initdbArgs: [`--wal-segsize=${segmentSizeMiB}`] });
}

export function archivedSegments(archiveDir: string): string[] {
  return fs
    .readdirSync(archiveDir)
    .filter((n) => SEGMENT_NAME.test(n))
    .sort();
}

export interface DumpedRecord {
  rmgr: string;
  recLength: number;
  totalLength: number;
  xid: number;
  lsn: bigint;
  prev: bigint;
  desc: string;
}

const LINE =
  /^rmgr: (\S+)\s+len \(rec\/tot\):\s+(\d+)\/\s*(\d+), tx:\s+(\d+), lsn: ([0-9A-F]+\/[0-9A-F]+), prev ([0-9A-F]+\/[0-9A-F]+), desc: (.*)$/;

/** pg_waldump over the segments from `first` to `last` in `dir` (it stops at the end of valid WAL). */
export function pgWaldump(dir: string, first: string, last: string): DumpedRecord[] {
  const r = spawnSync(pgBin('pg_waldump'), ['-p', dir, first, last], {
    ...asPostgres(),
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  const out: DumpedRecord[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    out.push({
      rmgr: m[1],
      recLength: Number(m[2]),
      totalLength: Number(m[3]),
      xid: Number(m[4]),
      lsn: parseLsn(m[5]),
      prev: parseLsn(m[6]),
      desc: m[7],
    });
  }
  if (out.length === 0) throw new Error(`pg_waldump printed no records (status ${r.status}): ${r.stderr}`);
  return out;
}

/** pg_waldump's "2026-11-23 13:45:01.123456 UTC" (run with TZ=UTC) as ISO 8601 with microseconds. */
export function waldumpTime(text: string): string {
  const m = /(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?) UTC/.exec(text);
  if (!m) throw new Error(`no UTC time in "${text}"`);
  const [secs, frac = ''] = m[2].split('.');
  return `${m[1]}T${secs}.${frac.padEnd(6, '0')}Z`;
}
