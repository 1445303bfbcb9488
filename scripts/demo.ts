// `npm run demo`: the main job end to end on the embedded stack. Starts (or reuses) the local
// stack in .walflow/, a PostgreSQL that archives through walflow, puts load on it, and shows
// what reached the stores and how fast. The stack stays up afterwards for the Web UI.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import { createArchivingCluster, PgCluster } from '../lib/devstack/pgcluster';
import { chownToPostgres, freePort, ROOT, sleep } from '../lib/devstack/procs';
import { Stack, stackUp } from '../lib/devstack/stack';
import { waitForEmptySpool } from '../cli/spoolprogress';
import type { RestoreProgress } from '../lib/contracts';

const DIR = path.join(ROOT, '.walflow');

function step(text: string): void {
  process.stdout.write(`\n== ${text}\n`);
}

/** Runs bin/walflow with the stack's settings, its progress display on this terminal. */
function walflow(stack: Stack, args: string[]): string {
  const r = spawnSync(path.join(ROOT, 'bin', 'walflow'), [...args, '--env-file', stack.envFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`walflow ${args.join(' ')} failed (exit ${r.status}): ${r.stdout}`);
  return r.stdout;
}

async function insertEvents(pg: PgCluster, batches: number, note: string): Promise<void> {
  for (let i = 0; i < batches; i++) {
    await pg.query(`INSERT INTO events (note) SELECT '${note} ' || g FROM generate_series(1, 500) g`);
    await sleep(100);
  }
}

async function lastRestore(stack: Stack): Promise<RestoreProgress> {
  const db = new Client({ connectionString: stack.env().WALFLOW_CATALOG_URL });
  await db.connect();
  try {
    const { rows } = await db.query<{ summary: RestoreProgress }>(
      "SELECT summary FROM runs WHERE cluster = $1 AND kind = 'restore' ORDER BY id DESC LIMIT 1",
      [stack.state.cluster],
    );
    return rows[0].summary;
  } finally {
    await db.end();
  }
}

interface ArchiveFigures {
  files: number;
  raw: number;
  stored: number;
  p50: number;
  p99: number;
  max: number;
}

async function archiveFigures(stack: Stack, since: Date): Promise<ArchiveFigures> {
  const db = new Client({ connectionString: stack.env().WALFLOW_CATALOG_URL });
  await db.connect();
  try {
    const { rows } = await db.query<{ raw: string; stored: string; secs: number }>(
      `
      SELECT f.raw_size AS raw, f.stored_size AS stored,
             extract(epoch FROM max(c.confirmed_at) - f.handed_over_at)::float8 AS secs
        FROM wal_files f JOIN wal_copies c ON c.cluster = f.cluster AND c.name = f.name
       WHERE f.cluster = $1 AND f.handed_over_at >= $2
       GROUP BY f.id HAVING count(*) = 2`,
      [stack.state.cluster, since],
    );
    const secs = rows.map((r) => r.secs).sort((a, b) => a - b);
    const pct = (p: number) => (secs.length ? secs[Math.min(secs.length - 1, Math.ceil(p * secs.length) - 1)] : 0);
    return {
      files: rows.length,
      raw: rows.reduce((s, r) => s + Number(r.raw), 0),
      stored: rows.reduce((s, r) => s + Number(r.stored), 0),
      p50: pct(0.5),
      p99: pct(0.99),
      max: secs[secs.length - 1] ?? 0,
    };
  } finally {
    await db.end();
  }
}

async function demoCluster(stack: Stack): Promise<{ pg: PgCluster; fresh: boolean }> {
  const dir = path.join(DIR, 'demo-pg');
  const fresh = !fs.existsSync(path.join(dir, 'data', 'PG_VERSION'));
  const pg = await createArchivingCluster({
    dir,
    port: stack.state.ports.pg,
    envFile: stack.envFile,
    extraConf: ['archive_timeout = 60s'],
  });
  return { pg, fresh };
}

async function main(): Promise<void> {
  const started = Date.now();
  step('starting the local stack (Temporal + Web UI, S3 servers r2 and b2, catalog, worker)');
  // Schedules before the worker, so that it starts under the applied policy.
  const stack = await stackUp({ dir: DIR, worker: false, familiarPorts: true });
  process.stdout.write(`   Web UI: ${stack.uiUrl}\n   settings: ${stack.envFile}\n`);
  process.stdout.write(walflow(stack, ['schedules', 'apply']).replace(/^(?=.)/gm, '   '));
  await stack.start('worker');

  step('PostgreSQL with archive_command = walflow push %p %f');
  const { pg, fresh } = await demoCluster(stack);
  process.stdout.write(`   ${pg.url} (${fresh ? 'new' : 'reused'} cluster in .walflow/demo-pg)\n`);
  const since = new Date(Date.now() - 1000);

  step('load: pgbench and a table of timestamped rows');
  if (fresh) pg.tool('pgbench', ['-i', '-s', '10', '-q', 'postgres']);
  pg.tool('pgbench', ['-c', '4', '-T', '5', 'postgres']);
  await pg.query(
    'CREATE TABLE IF NOT EXISTS events (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp(), note text)',
  );
  await insertEvents(pg, 5, 'before the backup');

  step('base backup: pg_basebackup streamed into r2 and b2, complete once its WAL is archived');
  const backupStarted = Date.now();
  walflow(stack, ['backup', '--wait']);
  const backupSeconds = (Date.now() - backupStarted) / 1000;

  step('more load; the restore target T is taken in the middle of it');
  pg.tool('pgbench', ['-c', '4', '-T', '5', 'postgres']);
  await insertEvents(pg, 10, 'before T');
  await sleep(500);
  const [{ t }] = await pg.query<{ t: Date }>('SELECT clock_timestamp() AS t');
  const target = t.toISOString();
  await sleep(500);
  await insertEvents(pg, 10, 'after T');
  const [{ n: expected }] = await pg.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE at <= $1', [
    target,
  ]);
  const [{ n: total }] = await pg.query<{ n: number }>('SELECT count(*)::int AS n FROM events');
  const last = await pg.switchWal();
  process.stdout.write(`   T = ${target}: ${expected} of ${total} event rows were committed before it\n`);

  step('waiting until every WAL file is in both stores and the spool is empty');
  // PostgreSQL's archiver hands the switched segment over a moment later: an empty spool before then says nothing.
  while (
    (await pg.query<{ done: boolean }>('SELECT last_archived_wal >= $1 AS done FROM pg_stat_archiver', [last]))[0]
      .done !== true
  )
    await sleep(100);
  await waitForEmptySpool(stack.spoolDir, stack.state.cluster, process.stdout, '   ');
  const a = await archiveFigures(stack, since);

  step('what a restore can reach (walflow recoverable): T lies inside the window');
  process.stdout.write(walflow(stack, ['recoverable']).replace(/^(?=.)/gm, '   '));

  step('a target past the archive is refused before anything is downloaded');
  const future = new Date(Date.now() + 3_600_000).toISOString();
  const refused = spawnSync(
    path.join(ROOT, 'bin', 'walflow'),
    ['restore', '--target-time', future, '--pgdata', path.join(DIR, 'never'), '--wait', '--env-file', stack.envFile],
    { encoding: 'utf8' },
  );
  if (refused.status === 0 || fs.existsSync(path.join(DIR, 'never')))
    throw new Error(`a restore to ${future} was not refused up front: ${refused.stdout}${refused.stderr}`);
  process.stdout.write(`   ${refused.stderr.trim().split('\n').pop()}\n`);

  step(`restore to T into a new data folder, start it and wait for promotion`);
  const restoresDir = path.join(DIR, 'restores');
  fs.mkdirSync(restoresDir, { recursive: true });
  chownToPostgres(restoresDir);
  const pgdata = path.join(restoresDir, new Date().toISOString().replace(/[:.]/g, '-'));
  const port = await freePort();
  const restoreStarted = Date.now();
  walflow(stack, ['restore', '--target-time', target, '--pgdata', pgdata, '--start', '--port', String(port), '--wait']);
  const restoreSeconds = (Date.now() - restoreStarted) / 1000;
  const restored = new PgCluster(pgdata, port, '', path.join(pgdata, 'log'));
  const [{ n: got, late }] = await restored.query<{ n: number; late: number }>(
    'SELECT count(*)::int AS n, count(*) FILTER (WHERE at > $1)::int AS late FROM events',
    [target],
  );
  const ok = got === expected && late === 0;
  process.stdout.write(
    `   restored cluster on port ${port} holds ${got} event rows, ${late} after T: ${ok ? 'exactly the rows committed before T' : 'WRONG'}\n`,
  );
  const phases = (await lastRestore(stack)).phases;
  await restored.stop('fast');

  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  step('summary');
  process.stdout.write(
    [
      `   WAL files archived this run   ${a.files} (to r2 and b2)`,
      `   WAL bytes raw -> stored       ${mib(a.raw)} -> ${mib(a.stored)} (zstd, ${(a.raw / Math.max(a.stored, 1)).toFixed(1)}x smaller)`,
      `   handover -> both stores       p50 ${a.p50.toFixed(2)}s, p99 ${a.p99.toFixed(2)}s, max ${a.max.toFixed(2)}s`,
      `   base backup                   ${backupSeconds.toFixed(1)}s (until complete: data and its WAL in both stores)`,
      `   restore to T                  ${restoreSeconds.toFixed(1)}s in all: ${phases.map((p) => `${p.phase} ${(p.seconds ?? 0).toFixed(1)}s`).join(', ')}`,
      `   rows after restore            ${got} (expected ${expected}) ${ok ? 'OK' : 'MISMATCH'}`,
      `   demo took                     ${((Date.now() - started) / 1000).toFixed(0)}s`,
      '',
      `   Web UI:   ${stack.uiUrl}  (workflows archive/${stack.state.cluster}/<file>, backup/..., restore/...)`,
      `   status:   bin/walflow status --env-file ${path.relative(process.cwd(), stack.envFile)}`,
      `   stop all: bin/walflow dev down`,
      '',
    ].join('\n'),
  );
  if (!ok) throw new Error(`the restored cluster holds ${got} rows (${late} after T), expected ${expected}`);
}

main().catch((e) => {
  process.stderr.write(
    `demo failed: ${(e as Error).stack ?? e}\n(logs in ${path.join(DIR, 'logs')}; stop everything with bin/walflow dev down)\n`,
  );
  process.exit(1);
});
