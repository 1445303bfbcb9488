// A store down under load with a small spool limit: PostgreSQL keeps archiving, the spool stays
// under WALFLOW_SPOOL_MAX, files leave with one copy and the other is owed, then made store to
// store when the store returns. With every store down, push refuses and spool-full is raised.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { PgCluster } from '../lib/devstack/pgcluster';
import { pgBin, postgresUser } from '../lib/devstack/procs';
import { SpoolPaths } from '../lib/spool';
import { catalogQuery } from './support/catalog';
import { TestEnv, waitFor } from './support/env';

const CLUSTER = 'spoollimit';
const LIMIT = 128 * 2 ** 20;
let LOAD_SCRIPT: string;

let env: TestEnv;
let pg: PgCluster;

before(async () => {
  env = new TestEnv(CLUSTER, { WALFLOW_SPOOL_MAX: '128MiB', WALFLOW_ALERT_UPLOAD_FAILING_AFTER: '3s' });
  LOAD_SCRIPT = path.join(env.dir, 'load.sql');
  await env.startWorker();
  pg = await env.createCluster();
  await pg.query('CREATE TABLE load (payload text)');
  // About 0.7 MiB of WAL per transaction (one segment every 4 s at 6 per second), compressible.
  fs.writeFileSync(
    LOAD_SCRIPT,
    'INSERT INTO load SELECT repeat(md5(random()::text), 30) FROM generate_series(1, 500);\n',
  );
});

after(async () => {
  await env.stack.start('r2');
  await env.stack.start('b2');
  await pg?.stop('immediate');
  await env?.close();
});

const spool = () => new SpoolPaths(env.config.spoolDir, CLUSTER);

/** Bytes the spool's files and compressed copies take on disk now. */
function spoolBytes(): number {
  let n = 0;
  for (const dir of [spool().walDir, spool().stagedDir])
    for (const f of fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : [])
      n += f.isFile() ? (fs.statSync(path.join(dir, f.name), { throwIfNoEntry: false })?.size ?? 0) : 0;
  return n;
}

async function archiver(): Promise<{ archived: number; failed: number; last: string | null }> {
  const [r] = await pg.query<{ archived: string; failed: string; last: string | null }>(
    'SELECT archived_count::text AS archived, failed_count::text AS failed, last_archived_wal AS last FROM pg_stat_archiver',
  );
  return { archived: Number(r.archived), failed: Number(r.failed), last: r.last };
}

async function owed(): Promise<{ store: string; n: number }[]> {
  return catalogQuery<{ store: string; n: number }>(
    env.config.catalogUrl,
    'SELECT store, count(*)::int AS n FROM owed_copies WHERE cluster = $1 GROUP BY store',
    [CLUSTER],
  );
}

async function openAlert(key: string): Promise<boolean> {
  const rows = await catalogQuery(
    env.config.catalogUrl,
    'SELECT 1 FROM alerts WHERE cluster = $1 AND key = $2 AND resolved_at IS NULL',
    [CLUSTER, key],
  );
  return rows.length > 0;
}

/** Names of the WAL files the catalog records, i.e. every file that left the spool. */
async function recorded(): Promise<string[]> {
  const rows = await catalogQuery<{ key: string }>(
    env.config.catalogUrl,
    'SELECT key FROM wal_files WHERE cluster = $1 ORDER BY name',
    [CLUSTER],
  );
  return rows.map((r) => r.key);
}

async function holds(store: string, keys: string[]): Promise<string[]> {
  const have = new Set(await env.walKeys(store));
  return keys.filter((k) => !have.has(k));
}

test(
  'b2 down under pgbench: the spool stays under its limit, r2 has everything, b2 catches up byte for byte',
  { timeout: 600_000 },
  async () => {
    await waitFor('initial WAL archived', () => env.spoolFiles().length === 0, 120_000);
    const start = await archiver();
    const outageStart = new Date();
    await env.stack.stop('b2');
    let peak = 0;
    let bench: Promise<unknown> | undefined;
    try {
      bench = promisify(execFile)(
        pgBin('pgbench'),
        [
          '-h',
          '127.0.0.1',
          '-p',
          String(pg.port),
          '-U',
          'postgres',
          '-n',
          '-f',
          LOAD_SCRIPT,
          '-c',
          '2',
          '-R',
          '6',
          '-T',
          '60',
          'postgres',
        ],
        { cwd: '/', ...(postgresUser() ?? {}), env: { ...process.env, HOME: '/var/lib/postgresql' } },
      );
      let running = true;
      void bench.finally(() => (running = false));
      while (running) {
        peak = Math.max(peak, spoolBytes());
        await new Promise((r) => setTimeout(r, 200));
      }
      await bench; // pgbench exits non-zero if PostgreSQL stopped accepting writes
      const last = await pg.switchWal();
      await waitFor('the last segment archived by PostgreSQL', async () => (await archiver()).last === last, 120_000);
      const end = await archiver();
      const segments = end.archived - start.archived;
      console.log(
        `b2 down: ${segments} files archived, spool peak ${(peak / 2 ** 20).toFixed(1)} MiB, failed ${end.failed - start.failed}`,
      );
      assert.ok(segments * 16 * 2 ** 20 > LIMIT, `the load outgrew the spool limit: ${segments} files`);
      assert.ok(peak <= LIMIT, `spool peak ${peak} stays under ${LIMIT}`);
      // A refusal now and then while files are on their way out; never one per attempt.
      assert.ok(
        end.failed - start.failed <= segments / 4,
        `archive_command rarely failed: ${end.failed - start.failed}`,
      );
      // Every file that left the spool is in r2, while b2 is still down.
      await waitFor('spool drained to its unfinished files', () => env.spoolFiles().length < 6, 60_000);
      const keys = await recorded();
      assert.deepEqual(await holds('r2', keys), [], 'r2 holds every recorded file');
      // How far the healthy store lagged PostgreSQL's handover while the other was down.
      const [lag] = await catalogQuery<{ median: number; max: number }>(
        env.config.catalogUrl,
        `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s)::float AS median, max(s)::float AS max FROM (
           SELECT extract(epoch FROM c.confirmed_at - f.handed_over_at) AS s FROM wal_copies c
           JOIN wal_files f ON f.cluster = c.cluster AND f.name = c.name
           WHERE c.cluster = $1 AND c.store = 'r2' AND f.handed_over_at > $2) x`,
        [CLUSTER, outageStart],
      );
      console.log(`r2 lag behind PostgreSQL while b2 was down: median ${lag.median}s, max ${lag.max}s`);
      const owing = await owed();
      assert.ok(
        owing.some((o) => o.store === 'b2' && o.n > 0),
        `copies owed to b2: ${JSON.stringify(owing)}`,
      );
      assert.ok(!owing.some((o) => o.store === 'r2'), 'nothing owed to the healthy store');
      await waitFor('store-degraded raised for b2', () => openAlert('store-degraded:b2'), 60_000);
      const status = JSON.parse(env.walflow(['status', '--json']).stdout) as {
        stores: Record<string, { owedCopies: number }>;
      };
      assert.ok(status.stores.b2.owedCopies > 0, `status shows owed copies: ${JSON.stringify(status.stores)}`);
      assert.equal(status.stores.r2.owedCopies, 0);
    } finally {
      await bench?.catch(() => undefined);
      await env.stack.start('b2');
    }
    await waitFor('owed copies made', async () => (await owed()).length === 0, 240_000, 1_000);
    await waitFor('spool empty', () => env.spoolFiles().length === 0, 120_000);
    await waitFor('store-degraded resolved', async () => !(await openAlert('store-degraded:b2')), 60_000);
    const keys = await recorded();
    assert.deepEqual(await env.walKeys('r2'), keys);
    assert.deepEqual(await env.walKeys('b2'), keys);
    const sha = async (store: string, key: string) =>
      createHash('sha256')
        .update(await env.stores.get(store)!.get(key))
        .digest('hex');
    for (const key of keys) assert.equal(await sha('b2', key), await sha('r2', key), key);
  },
);

test(
  'every store down: push refuses once the spool is full, spool-full is raised, all arrives after',
  { timeout: 400_000 },
  async () => {
    await env.stack.stop('r2');
    await env.stack.stop('b2');
    const before = await archiver();
    let names: string[] = [];
    try {
      for (let i = 0; i < 16; i++) {
        await pg.query("INSERT INTO load VALUES ('x')");
        names.push(await pg.switchWal());
      }
      await waitFor('push refused', async () => (await archiver()).failed > before.failed, 60_000);
      assert.ok(spoolBytes() <= LIMIT, 'the spool stays under its limit');
      await waitFor('spool-full raised', () => openAlert(`spool-full:${CLUSTER}`), 30_000);
      // A refusal can pass once the files before it are compressed (each then counts once):
      // push the next file by hand until the spool has settled full.
      const refused = (await waitFor(
        'push refused by the settled spool',
        () => {
          const next = names.find((n) => !env.spoolFiles().includes(n));
          const r = next ? env.walflow(['push', `${pg.data}/pg_wal/${next}`, next]) : undefined;
          return r && r.status !== 0 ? r : undefined;
        },
        60_000,
        1_000,
      ))!;
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, /is full .* PostgreSQL keeps it and retries/);
      assert.equal(refused.stderr.trim().split('\n').length, 1, 'one line');
      assert.ok(spoolBytes() <= LIMIT, 'still under its limit');
    } finally {
      await env.stack.start('r2');
      await env.stack.start('b2');
    }
    names = [...names, await pg.switchWal()];
    await waitFor('everything archived', async () => (await archiver()).last === names[names.length - 1], 240_000);
    await waitFor('spool empty', () => env.spoolFiles().length === 0, 120_000);
    await waitFor('spool-full resolved', async () => !(await openAlert(`spool-full:${CLUSTER}`)), 30_000);
    await waitFor('no copies owed', async () => (await owed()).length === 0, 120_000, 1_000);
    const keys = await recorded();
    assert.deepEqual(await holds('r2', keys), []);
    assert.deepEqual(await holds('b2', keys), []);
  },
);
