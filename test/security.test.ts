// Hostile input, secrets and drills. Restores started through the `temporal` CLI with a newline,
// a quote or a backslash where none belongs are refused before anything is written; a restore
// point whose name holds a quote and a backslash is reached as named; no configured secret shows
// in a workflow history, the worker's log or any command's output, and a restore's credentials
// file is gone once recovery ended; a drill of a subscriber never reaches its publisher.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { PgCluster } from '../lib/devstack/pgcluster';
import { freePort, pgBin, postgresUser, sleep, TOOLS } from '../lib/devstack/procs';
import { openStack, startPostgres } from '../lib/devstack/stack';
import { BAD_INPUT, type DrillResult } from '../lib/contracts';
import { TestEnv, waitFor } from './support/env';
import { pitrEnv, restoredCluster, runRestore, takeBackup, waitArchived } from './support/pitr';

const CATALOG_PASSWORD = 'catalog-password-7d1e';
/** The S3 stand-ins' secret key (the test stack's). */
const S3_SECRET_SETTING = /^WALFLOW_STORE_\w+_SECRET_ACCESS_KEY$/;

let env: TestEnv;
let pg: PgCluster;
let secrets: string[];
const started: PgCluster[] = [];

before(async () => {
  const stack = openStack(process.env.WALFLOW_TEST_STACK!).env();
  // The catalog trusts local connections: the password is never checked, only carried.
  const catalogUrl = stack.WALFLOW_CATALOG_URL.replace('postgres@', `postgres:${CATALOG_PASSWORD}@`);
  ({ env, pg } = await pitrEnv('security', { WALFLOW_CATALOG_URL: catalogUrl }));
  secrets = [
    CATALOG_PASSWORD,
    ...Object.entries(stack)
      .filter(([k]) => S3_SECRET_SETTING.test(k))
      .map(([, v]) => v),
  ];
  assert.ok(secrets.length >= 2);
  await pg.query('CREATE TABLE t (batch text NOT NULL)');
  await pg.query("INSERT INTO t SELECT 'base' FROM generate_series(1, 100)");
  await takeBackup(env);
});

after(async () => {
  for (const c of started) await c.stop('immediate').catch(() => undefined);
  await pg?.stop('immediate').catch(() => undefined);
  await env?.close();
});

/** Starts a restore the way a `temporal` CLI user would; returns its workflow id. */
function temporalStart(input: Record<string, unknown>): string {
  const workflowId = `restore/security/hostile-${Date.now()}-${Math.random().toString(16).slice(2)}`;
  const r = spawnSync(
    path.join(TOOLS, 'bin', 'temporal'),
    [
      'workflow',
      'start',
      '--address',
      env.config.temporalAddress,
      '--namespace',
      env.config.temporalNamespace,
      '--task-queue',
      'walflow',
      '--type',
      'restore',
      '--workflow-id',
      workflowId,
      '--input',
      JSON.stringify({ cluster: 'security', hostId: 'security', ...input }),
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return workflowId;
}

/** What PostgreSQL itself reads from a data folder's configuration (postgres -C). */
function pgSetting(pgdata: string, setting: string): string {
  const r = spawnSync(pgBin('postgres'), ['-D', pgdata, '-C', setting], {
    encoding: 'utf8',
    cwd: '/',
    ...(postgresUser() ?? {}),
  });
  return (r.stdout || r.stderr).trim();
}

test(
  'hostile restore inputs from the temporal CLI are refused before anything is written',
  { timeout: 240_000 },
  async () => {
    const client = await env.client();
    const dir = path.join(env.dir, 'hostile');
    const restoresDir = path.join(env.spoolDir, 'restores');
    const restoresBefore = fs.existsSync(restoresDir) ? fs.readdirSync(restoresDir) : [];
    const marker = path.join(dir, 'injected-command-ran');
    const cases: { input: Record<string, unknown>; pgdata: string; refused: RegExp }[] = [
      { input: { port: `5433\nrestore_command = 'touch ${marker}'` }, pgdata: `${dir}/port-newline`, refused: /port/ },
      { input: { port: "5433'" }, pgdata: `${dir}/port-quote`, refused: /port/ },
      { input: { port: '5433\\' }, pgdata: `${dir}/port-backslash`, refused: /port/ },
      {
        input: { targetName: "x\nrecovery_target_action = 'shutdown'" },
        pgdata: `${dir}/name-newline`,
        refused: /targetName: no control characters/,
      },
      { input: {}, pgdata: `${dir}/data\nnewline`, refused: /pgdata: no quotes, backslashes or control characters/ },
      { input: {}, pgdata: `${dir}/data'quote`, refused: /pgdata: no quotes, backslashes or control characters/ },
      { input: {}, pgdata: `${dir}/data\\backslash`, refused: /pgdata: no quotes, backslashes or control characters/ },
    ];
    for (const c of cases) {
      const workflowId = temporalStart({ ...c.input, pgdata: c.pgdata });
      const outcome = await client.workflow
        .getHandle(workflowId)
        .result()
        .then(
          () => 'completed',
          (e: unknown) => e,
        );
      const written = fs.existsSync(path.join(c.pgdata, 'postgresql.auto.conf'))
        ? `; it wrote ${c.pgdata}/postgresql.auto.conf, where PostgreSQL reads restore_command = ${pgSetting(c.pgdata, 'restore_command')}` +
          ` and recovery_target_name = ${pgSetting(c.pgdata, 'recovery_target_name')}`
        : '';
      assert.ok(
        outcome instanceof WorkflowFailedError,
        `${JSON.stringify(c.input)}: restore ${String(outcome)}${written}`,
      );
      const cause = outcome.cause;
      assert.ok(cause instanceof ApplicationFailure, String(cause));
      assert.equal(cause.type, BAD_INPUT, cause.message);
      assert.match(cause.message, /^restore input refused: /);
      assert.match(cause.message, c.refused);
      assert.doesNotMatch(cause.message, /\n/, 'one line');
      assert.equal(fs.existsSync(c.pgdata), false, `${c.pgdata} written`);
    }
    assert.equal(fs.existsSync(marker), false, 'the injected restore_command ran');
    const restoresAfter = fs.existsSync(restoresDir) ? fs.readdirSync(restoresDir) : [];
    assert.deepEqual(restoresAfter, restoresBefore, 'no restore work folder (nor fetch.env) was made');

    // The CLI refuses with the same words.
    const cli = env.walflow(['restore', '--pgdata', `${dir}/data'quote`, '--port', '5433']);
    assert.equal(cli.status, 1);
    assert.match(cli.stderr, /restore input refused: pgdata: no quotes, backslashes or control characters/);
  },
);

test('a restore point named with a quote and a backslash is reached as named', { timeout: 240_000 }, async () => {
  const pointName = "before it's \\ late";
  await pg.query("INSERT INTO t SELECT 'before' FROM generate_series(1, 10)");
  await pg.query('SELECT pg_create_restore_point($1)', [pointName]);
  await pg.query("INSERT INTO t SELECT 'after' FROM generate_series(1, 10)");
  await waitArchived(env, await pg.switchWal());
  const port = await freePort();
  const data = path.join(env.dir, 'named', 'data');
  const r = runRestore(env, ['--target-name', pointName, '--pgdata', data, '--start', '--port', String(port)]);
  const cluster = restoredCluster(env, data, port);
  started.push(cluster);
  assert.equal(r.status, 0, `restore failed: ${r.stderr}\n${r.stdout}`);
  const rows = await cluster.query<{ batch: string; n: number }>(
    'SELECT batch, count(*)::int AS n FROM t GROUP BY batch ORDER BY batch',
  );
  assert.deepEqual(
    rows.map((x) => [x.batch, x.n]),
    [
      ['base', 100],
      ['before', 10],
    ],
  );
});

/** Every text a workflow history holds, payloads decoded. */
async function historyText(workflowId: string): Promise<string> {
  const history = await (await env.client()).workflow.getHandle(workflowId).fetchHistory();
  const parts: string[] = [];
  const walk = (v: unknown): void => {
    if (v instanceof Uint8Array) parts.push(Buffer.from(v).toString('utf8'));
    else if (typeof v === 'string') parts.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(history);
  return parts.join('\n');
}

function assertNoSecret(what: string, text: string): void {
  for (const s of secrets) assert.ok(!text.includes(s), `${what} shows a secret (${s.slice(0, 4)}...)`);
}

test(
  'no secret in histories, the log or command output; credentials leave with the restore',
  { timeout: 240_000 },
  async () => {
    const port = await freePort();
    const data = path.join(env.dir, 'whole', 'data');
    const restore = runRestore(env, ['--pgdata', data, '--start', '--port', String(port)]);
    started.push(restoredCluster(env, data, port));
    assert.equal(restore.status, 0, restore.stderr);
    assertNoSecret('walflow restore', restore.stdout + restore.stderr);
    const restoredWorkflowId = /restore started: (\S+)/.exec(restore.stderr)![1];
    const sweep = env.walflow(['archive', '--wait']);
    assert.equal(sweep.status, 0, sweep.stderr);
    const sweepId = /sweep started: (\S+)/.exec(sweep.stderr)![1];
    await waitFor('the sweep to finish', async () => {
      const d = await (await env.client()).workflow.getHandle(sweepId).describe();
      return d.status.name !== 'RUNNING';
    });
    assertNoSecret('the restore history', await historyText(restoredWorkflowId));
    assertNoSecret('the sweep history', await historyText(sweepId));

    const outputs: [string, string[]][] = [
      ['status', ['status']],
      ['status --json', ['status', '--json']],
      ['alerts', ['alerts', '--json']],
      ['backups', ['backups', '--json']],
      ['recoverable', ['recoverable']],
      ['doctor', ['doctor']],
    ];
    for (const [what, args] of outputs) {
      const r = env.walflow(args);
      assertNoSecret(`walflow ${what}`, r.stdout + r.stderr);
    }
    // Errors too: the same settings with the catalog down.
    const downEnv = path.join(env.dir, 'catalog-down.env');
    const closed = await freePort();
    fs.writeFileSync(
      downEnv,
      fs
        .readFileSync(env.envFile, 'utf8')
        .replace(
          /^WALFLOW_CATALOG_URL=.*$/m,
          `WALFLOW_CATALOG_URL=postgres://postgres:${CATALOG_PASSWORD}@127.0.0.1:${closed}/postgres`,
        ),
      { mode: 0o644 },
    );
    for (const args of [['status'], ['recoverable'], ['alerts']]) {
      const r = env.walflow([...args, '--env-file', downEnv]);
      assert.notEqual(r.status, 0, `${args[0]} with the catalog down: ${r.stdout}`);
      assertNoSecret(`walflow ${args[0]} with the catalog down`, r.stdout + r.stderr);
    }
    assertNoSecret('the worker log', fs.readFileSync(env.workerLog, 'utf8'));

    // The restore's fetch.env held the store credentials: gone once recovery ended.
    const restores = path.join(env.spoolDir, 'restores');
    const left = fs.readdirSync(restores).filter((d) => fs.existsSync(path.join(restores, d, 'fetch.env')));
    assert.deepEqual(left, [], 'fetch.env left behind');
    // The restored server runs without the worker's secrets in its environment.
    const pid = fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0];
    assertNoSecret('the restored server environment', fs.readFileSync(`/proc/${pid}/environ`, 'utf8'));
  },
);

test('a drill of a subscriber never connects to its publisher', { timeout: 300_000 }, async () => {
  const publisher = new PgCluster(
    path.join(env.dir, 'publisher', 'data'),
    await freePort(),
    path.join(env.dir, 'publisher', 'run'),
    path.join(env.dir, 'publisher', 'postgres.log'),
  );
  await startPostgres(publisher.data, publisher.port, publisher.runDir, publisher.logFile, ['wal_level = logical']);
  started.push(publisher);
  await publisher.query('CREATE TABLE feed (id int PRIMARY KEY)');
  await publisher.query('CREATE PUBLICATION pub FOR TABLE feed');
  await publisher.query('INSERT INTO feed SELECT generate_series(1, 10)');
  await pg.query('CREATE TABLE feed (id int PRIMARY KEY)');
  await pg.query(
    `CREATE SUBSCRIPTION sub CONNECTION 'host=127.0.0.1 port=${publisher.port} user=postgres dbname=postgres' PUBLICATION pub`,
  );
  await waitFor(
    'the initial copy',
    async () => (await pg.query<{ n: number }>('SELECT count(*)::int AS n FROM feed'))[0].n === 10,
  );
  await takeBackup(env);
  await waitArchived(env, await pg.switchWal());
  // Production's subscriber goes away: its slot waits for it, and only a copy could take it.
  await pg.stop('fast');
  await publisher.query('INSERT INTO feed SELECT generate_series(11, 20)');
  const slot = async () =>
    (
      await publisher.query<{ active: boolean; lsn: string }>(
        "SELECT active, confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'sub'",
      )
    )[0];
  const before = await slot();
  assert.equal(before.active, false);
  let connected = 0;
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const [{ n }] = await publisher.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_replication');
      connected += n;
      await sleep(200);
    }
  })();
  // The check waits long enough for an apply worker to connect, and reports what the copy runs with.
  const check =
    "SELECT pg_sleep(8)::text AS slept, current_setting('max_logical_replication_workers') AS workers, " +
    "current_setting('archive_mode') AS archive_mode, current_setting('listen_addresses') AS listen";
  const r = env.walflow(['drill', '--json', '--check', check]);
  watching = false;
  await watcher;
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout) as DrillResult;
  assert.equal(result.outcome, 'ok');
  assert.equal(connected, 0, 'the restored copy connected to the publisher');
  const afterDrill = await slot();
  assert.equal(afterDrill.lsn, before.lsn, "the publisher's slot advanced");
  assert.deepEqual(result.check?.first, { slept: '', workers: '0', archive_mode: 'off', listen: 'localhost' });
});
