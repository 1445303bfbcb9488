// Restore side by side: base backups of the bench's source cluster (`walflow backup --wait`, and
// `pgbackrest backup --type=full` to each repository), then N more real segments from pgbench
// archived by both tools to the same two S3 servers; then the whole restore of that database to
// a promoted cluster at the end of the archive, `walflow restore --start --wait` against
// `pgbackrest restore` plus PostgreSQL's recovery (restore_command = async archive-get); and
// restore_command alone back to back: `walflow fetch` against pgBackRest's async archive-get.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import { chownToPostgres, freePort, pgBin, readPid, sleep } from '../../lib/devstack/procs';
import type { Stack } from '../../lib/devstack/stack';
import { startPostgres, stopPostgres } from '../../lib/devstack/stack';
import type { PhaseReport, RestoreProgress } from '../../lib/contracts';
import { Measured, Pgbackrest } from './pgbackrest';
import { archivedSegments, Source, waitNoReady } from './segments';
import {
  cpuDelta,
  CpuSnapshot,
  cpuSnapshot,
  log,
  median,
  MiB,
  msSince,
  now,
  runAsPostgres,
  timedAsPostgres,
} from './util';
import { BenchEnv, WALFLOW } from './walflow';

export interface SequentialGet {
  segments: number;
  totalMs: number;
  segPerSec: number;
  latenciesMs: number[];
  cpuSecondsPerSegment: number;
}

type Cpu = { machineBusyPct: number; cpuSeconds: Record<string, number> };

export interface RestoreBench {
  segments: string[];
  backup: { seconds: number; rawMiB: number };
  /** From the catalog's `runs` row of kind 'restore' (the workflow's own figures). */
  restore: {
    wallSeconds: number;
    workflowSeconds: number;
    phases: PhaseReport[];
    backupId?: string;
    reachedLsn?: string;
    timeline?: number;
    prefetch: { segments: number; bytes: number; seconds: number; segPerSec: number; cpu?: Cpu };
  };
  fetch: SequentialGet;
  pgbackrest?: {
    /** Full backup to repo1, to repo2 (one run each). */
    backupSeconds: number[];
    /** `pgbackrest restore`, then PostgreSQL's recovery until promoted; and both together. */
    restore: { restoreSeconds: number; recoverSeconds: number; wallSeconds: number };
    archiveGet: SequentialGet & { peakRssMiB: number };
  };
}

/**
 * WAL after the backup, faster than pgbench alone on 2 CPUs (which makes ~0.5 segment/s while
 * walflow's worker archives beside it): pgbench rounds (small transactions, as before) and, on a
 * table of its own, bulk UPDATEs (heap updates and full-page images after each checkpoint) until
 * `want` more segments are archived. Returns the newest `want`.
 */
async function generateWal(src: Source, archiveDir: string, want: number, maxSeconds: number): Promise<string[]> {
  const deadline = Date.now() + maxSeconds * 1000;
  const target = archivedSegments(archiveDir).length + want + 1;
  const enough = () => archivedSegments(archiveDir).length >= target || Date.now() > deadline;
  const db = new Client({ connectionString: src.pg.url });
  await db.connect();
  try {
    await db.query(
      `CREATE TABLE bench_restore (id int PRIMARY KEY, v int NOT NULL DEFAULT 0, filler char(84)) WITH (fillfactor = 90)`,
    );
    await db.query(`INSERT INTO bench_restore (id, filler) SELECT g, md5(g::text) FROM generate_series(1, 400000) g`);
    const conn = ['-h', '127.0.0.1', '-p', String(src.pg.port), '-U', 'postgres'];
    const pgbench = (async () => {
      while (!enough()) {
        const r = await runAsPostgres(pgBin('pgbench'), [...conn, '-c', '2', '-j', '1', '-T', '5', '-n', 'postgres']);
        if (r.code !== 0) throw new Error(`pgbench failed:\n${r.out}`);
      }
    })();
    pgbench.catch(() => undefined); // awaited below; not unhandled if an UPDATE fails first
    for (let k = 0, round = 1; !enough(); k = (k + 1) % 4, round++) {
      await db.query(`UPDATE bench_restore SET v = v + 1 WHERE id % 4 = $1`, [k]);
      if (round % 4 === 0) log(`restore WAL: ${archivedSegments(archiveDir).length}/${target} segments archived`);
    }
    await pgbench;
  } finally {
    await db.end().catch(() => undefined);
  }
  const all = archivedSegments(archiveDir);
  if (all.length < target) log(`warning: only ${all.length}/${target} segments after ${maxSeconds} s; measuring those`);
  return all.slice(-Math.min(want, all.length - 1)).map((n) => path.join(archiveDir, n));
}

const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

/** One process per segment, in order, into `outDir`; each result checked (size, and the first by content) and removed. */
function sequentialGet(
  what: string,
  segments: string[],
  outDir: string,
  run: (name: string, dest: string) => number,
): SequentialGet {
  const latenciesMs: number[] = [];
  const cpu0 = cpuSnapshot({ children: process.pid }); // each process is our waited-for child
  const t0 = now();
  for (const seg of segments) {
    const name = path.basename(seg);
    const dest = path.join(outDir, name);
    latenciesMs.push(run(name, dest));
    const size = fs.statSync(dest).size;
    if (size !== 16 * MiB) throw new Error(`${what} ${name}: ${size} bytes, expected ${16 * MiB}`);
    if (latenciesMs.length === 1 && sha(dest) !== sha(seg))
      throw new Error(`${what} ${name}: content differs from the segment PostgreSQL archived`);
    fs.rmSync(dest);
  }
  const totalMs = msSince(t0);
  const cpu = cpuDelta(cpu0, cpuSnapshot({ children: process.pid })).cpuSeconds.children;
  const r = {
    segments: segments.length,
    totalMs,
    segPerSec: segments.length / (totalMs / 1000),
    latenciesMs,
    cpuSecondsPerSegment: cpu / segments.length,
  };
  log(
    `${what}: ${r.segments} segments one process each in ${(totalMs / 1000).toFixed(2)} s = ${r.segPerSec.toFixed(2)} segments/s, ` +
      `p50 ${median(latenciesMs).toFixed(1)} ms, ${r.cpuSecondsPerSegment.toFixed(3)} CPU s/segment`,
  );
  return r;
}

export async function benchRestore(o: {
  stack: Stack;
  src: Source;
  dir: string;
  segments: number;
  pgbr?: Pgbackrest;
  generateSeconds?: number;
}): Promise<RestoreBench> {
  const { stack, src } = o;
  const base = path.join(o.dir, 'restore');
  const archiveDir = path.join(base, 'archive'); // the same segments, for pgBackRest
  const outDir = path.join(base, 'out'); // fetch / archive-get destinations
  const pgdata = path.join(base, 'pgdata'); // the restored cluster (cleanupUnder finds its postmaster.pid)
  for (const d of [base, archiveDir, outDir]) fs.mkdirSync(d, { recursive: true });
  chownToPostgres(base, archiveDir, outDir);

  // Its own walflow cluster name, worker and spool; the worker reaches the source for base backups.
  const env = new BenchEnv(stack, 'bench-restore', { WALFLOW_PG_URL: src.pg.url });
  await env.startWorker();
  await waitNoReady(src, 120_000);
  const pgbrPush = o.pgbr ? ` && ${o.pgbr.command('archive-push %p')}` : '';
  await src.pg.query(
    `ALTER SYSTEM SET archive_command = 'cp %p ${archiveDir}/%f && ${WALFLOW} push %p %f --env-file ${env.envFile}${pgbrPush}'`,
  );
  await src.pg.query('SELECT pg_reload_conf()');
  await src.pg.switchWal(); // the first segment archived through walflow: before the backup starts

  let t = now();
  const b = await runAsPostgres(WALFLOW, ['backup', '--wait', '--env-file', env.envFile]);
  if (b.code !== 0) throw new Error(`walflow backup --wait failed (${b.code}):\n${b.out}`);
  const backup = { seconds: msSince(t) / 1000, rawMiB: Number(/complete: ([\d.]+) MiB raw/.exec(b.out)?.[1] ?? NaN) };
  log(`walflow backup --wait: ${backup.seconds.toFixed(1)} s`);
  // The database holds still between the two backups: both restores start from the same data.
  const pgbrBackupSeconds = o.pgbr ? await o.pgbr.fullBackups() : undefined;

  t = now();
  const segments = await generateWal(src, archiveDir, o.segments, o.generateSeconds ?? 150);
  log(
    `restore: ${segments.length} segments (pgbench + bulk updates) after the backup in ${(msSince(t) / 1000).toFixed(1)} s`,
  );
  await waitNoReady(src, 120_000);

  t = now();
  await env.waitDrained(240_000);
  const counts = await env.storeCounts();
  for (const [store, n] of Object.entries(counts)) {
    if (n < segments.length)
      throw new Error(`restore: store ${store} holds ${n} segments, expected at least ${segments.length}`);
  }
  log(
    `restore: walflow spool drained ${(msSince(t) / 1000).toFixed(1)} s later; stores hold ${Object.entries(counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')} segments`,
  );

  // walflow restore to the end of the archive, started and promoted.
  const port = await freePort();
  const pids = {
    worker: env.workerPidNumber,
    temporal: readPid(stack.pidFile('temporal')),
    'versitygw r2': readPid(stack.pidFile('r2')),
    'versitygw b2': readPid(stack.pidFile('b2')),
  };
  const samples: { at: number; snap: CpuSnapshot }[] = [];
  const sampler = setInterval(() => samples.push({ at: Date.now(), snap: cpuSnapshot(pids) }), 250);
  t = now();
  const r = await runAsPostgres(WALFLOW, [
    'restore',
    '--pgdata',
    pgdata,
    '--port',
    String(port),
    '--start',
    '--wait',
    '--env-file',
    env.envFile,
  ]);
  const wallSeconds = msSince(t) / 1000;
  clearInterval(sampler);
  let summary: RestoreProgress & { workflowSeconds: number; startedAt: number };
  try {
    if (r.code !== 0) throw new Error(`walflow restore --start --wait failed (${r.code}):\n${r.out.slice(-3000)}`);
    const db = new Client({ connectionString: stack.env().WALFLOW_CATALOG_URL });
    await db.connect();
    try {
      const { rows } = await db.query<{ summary: RestoreProgress; outcome: string; s: number; started_at: Date }>(
        `SELECT summary, outcome, extract(epoch FROM finished_at - started_at)::float8 AS s, started_at FROM runs
          WHERE cluster = $1 AND kind = 'restore' ORDER BY id DESC LIMIT 1`,
        [env.name],
      );
      if (!rows[0] || rows[0].outcome !== 'ok')
        throw new Error(`restore: no successful restore recorded in the catalog: ${JSON.stringify(rows[0])}`);
      summary = { ...rows[0].summary, workflowSeconds: rows[0].s, startedAt: rows[0].started_at.getTime() };
    } finally {
      await db.end().catch(() => undefined);
    }
    const restored = new Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    await restored.connect();
    try {
      const { rows } = await restored.query<{ rec: boolean; n: number }>(
        'SELECT pg_is_in_recovery() AS rec, (SELECT count(*)::int FROM pgbench_accounts) AS n',
      );
      if (rows[0].rec || rows[0].n <= 0)
        throw new Error(`restore: the restored cluster is ${rows[0].rec ? 'still in recovery' : 'empty'}`);
    } finally {
      await restored.end().catch(() => undefined);
    }
  } finally {
    await stopPostgres(pgdata, 'fast').catch(() => undefined);
  }
  const pf = summary.phases.find((p) => p.phase === 'prefetch');
  if (!pf || !pf.seconds || !pf.segments)
    throw new Error(`restore: no prefetch phase in ${JSON.stringify(summary.phases)}`);
  // CPU during the prefetch phase: the samples nearest its start and end (workflow clock).
  const pfStart =
    summary.startedAt +
    summary.phases.slice(0, summary.phases.indexOf(pf)).reduce((a, p) => a + (p.seconds ?? 0) * 1000, 0);
  const nearest = (at: number) =>
    samples.reduce((b, x) => (Math.abs(x.at - at) < Math.abs(b.at - at) ? x : b), samples[0]);
  const [a, z] = [nearest(pfStart), nearest(pfStart + pf.seconds * 1000)];
  const pfCpu = samples.length > 1 && z.at > a.at ? cpuDelta(a.snap, z.snap) : undefined;
  const restore: RestoreBench['restore'] = {
    wallSeconds,
    workflowSeconds: summary.workflowSeconds,
    phases: summary.phases,
    backupId: summary.backupId,
    reachedLsn: summary.reachedLsn,
    timeline: summary.timeline,
    prefetch: {
      segments: pf.segments,
      bytes: pf.bytes ?? 0,
      seconds: pf.seconds,
      segPerSec: pf.segments / pf.seconds,
      cpu: pfCpu,
    },
  };
  log(
    `walflow restore --start: promoted in ${wallSeconds.toFixed(1)} s (${summary.phases.map((p) => `${p.phase} ${(p.seconds ?? 0).toFixed(1)}`).join(', ')}); ` +
      `prefetch ${pf.segments} WAL files = ${restore.prefetch.segPerSec.toFixed(2)}/s` +
      `${
        pfCpu
          ? `; meanwhile machine ${pfCpu.machineBusyPct}% busy, CPU s: ${Object.entries(pfCpu.cpuSeconds)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')}`
          : ''
      }`,
  );

  // restore_command, one process per segment, as PostgreSQL calls it (no prefetch folder: the stores).
  const fetch = sequentialGet('walflow fetch', segments, outDir, (name, dest) => {
    const { ms, r: f } = timedAsPostgres(WALFLOW, ['fetch', name, dest, '--env-file', env.envFile]);
    if (f.status !== 0) throw new Error(`walflow fetch ${name} failed (${f.status}): ${f.stderr}`);
    return ms;
  });
  let pgbr: RestoreBench['pgbackrest'];
  if (o.pgbr && pgbrBackupSeconds) {
    await env.stopWorker(); // its share of the CPU goes to pgBackRest's turn
    const restore = await pgbackrestRestore(o.pgbr, src, path.join(base, 'pgdata-pgbackrest'));
    const get = await o.pgbr.measure(
      'get',
      segments.map((s) => ['archive-get', path.basename(s), path.join(outDir, path.basename(s))]),
    );
    const first = path.join(outDir, path.basename(segments[0]));
    if (sha(first) !== sha(segments[0])) throw new Error('pgBackRest archive-get: content differs from the segment');
    fs.rmSync(first);
    pgbr = { backupSeconds: pgbrBackupSeconds, restore, archiveGet: fromMeasured('pgBackRest archive-get', get) };
  } else await env.stopWorker();
  return { segments: segments.map((s) => path.basename(s)), backup, restore, fetch, pgbackrest: pgbr };
}

function fromMeasured(what: string, m: Measured): SequentialGet & { peakRssMiB: number } {
  const n = m.latenciesMs.length;
  const r = {
    segments: n,
    totalMs: m.totalMs,
    segPerSec: n / (m.totalMs / 1000),
    latenciesMs: m.latenciesMs,
    cpuSecondsPerSegment: m.cpuSeconds / n,
    peakRssMiB: m.peakRssMiB,
  };
  log(
    `${what}: ${n} segments one process each in ${(m.totalMs / 1000).toFixed(2)} s = ${r.segPerSec.toFixed(2)} segments/s, ` +
      `p50 ${median(m.latenciesMs).toFixed(1)} ms, ${r.cpuSecondsPerSegment.toFixed(3)} CPU s/segment (async processes included)`,
  );
  return r;
}

/** `pgbackrest restore` to the end of the archive, then PostgreSQL started on it until it is promoted. */
async function pgbackrestRestore(
  pgbr: Pgbackrest,
  src: Source,
  pgdata: string,
): Promise<{ restoreSeconds: number; recoverSeconds: number; wallSeconds: number }> {
  const port = await freePort();
  const t0 = now();
  const restoreSeconds = (await pgbr.restore(pgdata)) / 1000;
  // Its own port; it must not archive into the source's repositories once promoted.
  fs.appendFileSync(
    path.join(pgdata, 'postgresql.auto.conf'),
    `port = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${src.pg.runDir}'\narchive_mode = off\n`,
  );
  const t1 = now();
  try {
    await startPostgres(pgdata, port, src.pg.runDir, path.join(path.dirname(pgdata), 'pgbackrest-restored.log'));
    const db = new Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    await db.connect();
    try {
      const deadline = Date.now() + 600_000;
      while ((await db.query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec')).rows[0].rec) {
        if (Date.now() > deadline) throw new Error('pgBackRest restore: still in recovery after 600 s');
        await sleep(20);
      }
      const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM pgbench_accounts');
      if (rows[0].n <= 0) throw new Error('pgBackRest restore: the restored cluster is empty');
    } finally {
      await db.end().catch(() => undefined);
    }
  } finally {
    await stopPostgres(pgdata, 'fast').catch(() => undefined);
  }
  const r = { restoreSeconds, recoverSeconds: msSince(t1) / 1000, wallSeconds: msSince(t0) / 1000 };
  log(
    `pgBackRest restore: promoted in ${r.wallSeconds.toFixed(1)} s (restore ${restoreSeconds.toFixed(1)} s, recovery ${r.recoverSeconds.toFixed(1)} s)`,
  );
  return r;
}
