// Point-in-time restore from a real base backup and real archived WAL, through both stores:
// rows committed before the target are there, rows committed after it are not.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { PgCluster } from '../lib/devstack/pgcluster';
import { sleep } from '../lib/devstack/procs';
import { BackupManifest, RESTORE_PROGRESS_QUERY, RestoreProgress } from '../lib/contracts';
import { catalogQuery } from './support/catalog';
import { TestEnv } from './support/env';
import { corruptInStore, pitrEnv, restoreAndStart, runRestore, takeBackup, waitArchived } from './support/pitr';

let env: TestEnv;
let pg: PgCluster;
let backup: BackupManifest;
const restored: PgCluster[] = [];

before(async () => {
  ({ env, pg } = await pitrEnv('restore', { WALFLOW_FETCH_GIVE_UP_AFTER: '5s' })); // fetch gives up soon in the outage test
  await pg.query('CREATE TABLE t (id serial PRIMARY KEY, batch text NOT NULL)');
  await pg.query("INSERT INTO t (batch) SELECT 'base' FROM generate_series(1, 1000)");
  backup = await takeBackup(env);
});

after(async () => {
  for (const r of restored) await r.stop('immediate').catch(() => undefined);
  await pg?.stop('immediate');
  await env?.close();
});

async function insert(batch: string, n = 500): Promise<void> {
  await pg.query(`INSERT INTO t (batch) SELECT $1 FROM generate_series(1, ${n})`, [batch]);
}

/** Switches WAL and waits until both stores hold the segment, so the restore can read it. */
async function archiveNow(): Promise<void> {
  await waitArchived(env, await pg.switchWal());
}

let n = 0;
async function restoreTo(args: string[]): Promise<{ cluster: PgCluster; stdout: string; workflowId: string }> {
  const r = await restoreAndStart(env, path.join(env.dir, `restored-${++n}`), args, restored);
  assert.equal(r.status, 0, `restore failed: ${r.stderr}\n${r.stdout}`);
  return { cluster: r.cluster, stdout: r.stdout, workflowId: /restore started: (\S+)/.exec(r.stderr)![1] };
}

async function batches(c: PgCluster): Promise<Record<string, number>> {
  const rows = await c.query<{ batch: string; n: number }>('SELECT batch, count(*)::int AS n FROM t GROUP BY batch');
  return Object.fromEntries(rows.map((r) => [r.batch, r.n]));
}

test('restore to a time: rows committed before it are there, rows after it are not', { timeout: 240_000 }, async () => {
  await insert('before-time');
  const [{ t }] = await pg.query<{ t: Date }>('SELECT clock_timestamp() AS t');
  await sleep(1500);
  await insert('after-time');
  await archiveNow();
  const { cluster, stdout, workflowId } = await restoreTo(['--target-time', t.toISOString()]);
  assert.match(workflowId, /^restore\/restore\/time:/);
  const b = await batches(cluster);
  assert.equal(b['base'], 1000);
  assert.equal(b['before-time'], 500);
  assert.equal(b['after-time'], undefined, `rows after the target: ${JSON.stringify(b)}`);
  assert.match(stdout, new RegExp(`restored ${backup.backupId}`));
  assert.match(stdout, /reached/);
  assert.match(stdout, /checked by pg_verifybackup/);
  // Promoted and writable, on a new timeline, and not archiving into the source's archive.
  await cluster.query("INSERT INTO t (batch) VALUES ('written after restore')");
  const [{ archive_mode: mode }] = await cluster.query<{ archive_mode: string }>('SHOW archive_mode');
  assert.equal(mode, 'off');
  // The progress query and the memo tell what each phase did.
  const handle = (await env.client()).workflow.getHandle(workflowId);
  const progress = await handle.query<RestoreProgress>(RESTORE_PROGRESS_QUERY);
  const phase = (name: string) => progress.phases.find((p) => p.phase === name)!;
  assert.equal(progress.phase, 'promoted');
  assert.ok(phase('download').bytes! >= backup.rawSize && phase('download').seconds! >= 0);
  assert.ok(phase('prefetch').segments! >= 2, `prefetched ${phase('prefetch').segments}`);
  assert.ok(progress.reachedLsn && progress.reachedTime, JSON.stringify(progress));
  assert.ok(
    new Date(progress.reachedTime) <= t,
    `last replayed commit ${progress.reachedTime} is not after the target ${t.toISOString()}`,
  );
  const memo = (await handle.describe()).memo as Record<string, unknown>;
  assert.equal(memo.backupId, backup.backupId);
  assert.equal(memo.phase, 'promoted');
  const runsRows = await catalogQuery<{ outcome: string; summary: { backupId: string; phases: { phase: string }[] } }>(
    env.config.catalogUrl,
    "SELECT outcome, summary FROM runs WHERE cluster = 'restore' AND kind = 'restore' ORDER BY id DESC LIMIT 1",
  );
  assert.equal(runsRows[0].outcome, 'ok');
  assert.equal(runsRows[0].summary.backupId, backup.backupId);
  assert.deepEqual(
    runsRows[0].summary.phases.map((p) => p.phase),
    ['reach', 'check', 'choose', 'download', 'plan', 'prefetch', 'configure', 'recover'],
  );
});

test('restore to a named restore point', { timeout: 240_000 }, async () => {
  await insert('before-name');
  await pg.query("SELECT pg_create_restore_point('before-batch-after-name')");
  await insert('after-name');
  await archiveNow();
  const { cluster } = await restoreTo(['--target-name', 'before-batch-after-name']);
  const b = await batches(cluster);
  assert.equal(b['before-name'], 500);
  assert.equal(b['after-name'], undefined);
});

test('restore to an LSN', { timeout: 240_000 }, async () => {
  await insert('before-lsn');
  const [{ lsn }] = await pg.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  await insert('after-lsn');
  await archiveNow();
  const { cluster } = await restoreTo(['--target-lsn', lsn]);
  const b = await batches(cluster);
  assert.equal(b['before-lsn'], 500);
  assert.equal(b['after-lsn'], undefined);
});

test(
  'the first store down: recovery stops rather than guess; --stores b2 restores from the second alone',
  { timeout: 300_000 },
  async () => {
    await insert('before-outage');
    await pg.query("SELECT pg_create_restore_point('outage')");
    await insert('after-outage');
    await archiveNow();
    await env.stack.stop('r2');
    try {
      // PostgreSQL asks for 00000002.history, which b2 does not have and r2 cannot deny.
      const failed = await restoreAndStart(env, path.join(env.dir, 'outage-1'), ['--target-name', 'outage']);
      assert.notEqual(failed.status, 0, failed.stdout);
      assert.match(failed.stderr, /walflow fetch 00000002\.history: .*r2: .*b2: no such file/);

      // The documented way through an outage: name the stores that answer.
      const { cluster, ...r } = await restoreAndStart(
        env,
        path.join(env.dir, 'outage-2'),
        ['--target-name', 'outage', '--stores', 'b2'],
        restored,
      );
      assert.equal(r.status, 0, `restore failed: ${r.stderr}\n${r.stdout}`);
      // fetch was told about b2 alone (with r2 down it would otherwise have stopped recovery, as
      // above); its fetch.env, store credentials, went once recovery ended.
      const envFile = /--env-file (\S+)'/.exec(
        fs.readFileSync(path.join(cluster.data, 'postgresql.auto.conf'), 'utf8'),
      )![1];
      assert.equal(fs.existsSync(envFile), false, `${envFile} outlived the restore`);
      const b = await batches(cluster);
      assert.equal(b['before-outage'], 500);
      assert.equal(b['after-outage'], undefined);
    } finally {
      await env.stack.start('r2'); // shared by every test file
    }
  },
);

test(
  'a corrupt backup chunk and WAL segment in the first store are detected and read from the second',
  { timeout: 240_000 },
  async () => {
    await insert('before-corrupt');
    await pg.query("SELECT pg_create_restore_point('corrupt')");
    await insert('after-corrupt');
    const segment = await pg.switchWal();
    await waitArchived(env, segment);
    corruptInStore(env, 'r2', `restore/backups/${backup.backupId}/${backup.files[0].name}`);
    corruptInStore(env, 'r2', `restore/wal/00000001/${segment}.zst`);
    const { cluster, stdout } = await restoreTo(['--target-name', 'corrupt', '--backup', backup.backupId]);
    const b = await batches(cluster);
    assert.equal(b['before-corrupt'], 500);
    assert.equal(b['after-corrupt'], undefined);
    assert.match(stdout, /failover/, 'the restore reports reading around the corrupt copies');
  },
);

test('a non-empty data directory is refused with a clear message', { timeout: 120_000 }, () => {
  const data = path.join(env.dir, 'not-empty');
  fs.mkdirSync(data, { recursive: true });
  fs.writeFileSync(path.join(data, 'PG_VERSION'), '15\n');
  const r = runRestore(env, ['--immediate', '--pgdata', data]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /not empty/);
  assert.deepEqual(fs.readdirSync(data), ['PG_VERSION'], 'nothing touched');
});

test('a target before every backup is refused with a clear message', { timeout: 120_000 }, async () => {
  const data = path.join(env.dir, 'too-early');
  const r = runRestore(env, ['--target-time', '2001-01-01T00:00:00Z', '--pgdata', data]);
  assert.notEqual(r.status, 0);
  assert.match(
    r.stderr,
    /target time 2001-01-01T00:00:00Z is before the end of the oldest backup: earliest reachable: /,
  );
  const [row] = await catalogQuery<{ outcome: string }>(
    env.config.catalogUrl,
    "SELECT outcome FROM runs WHERE cluster = 'restore' AND kind = 'restore' ORDER BY id DESC LIMIT 1",
  );
  assert.equal(row.outcome, 'failed');
});

test('restore input: more than one target is refused before anything starts', () => {
  const r = env.walflow(['restore', '--immediate', '--target-lsn', '0/3000000', '--pgdata', path.join(env.dir, 'x')]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /at most one/);
});

test('--plan-only names the backup and the WAL a restore would use, and writes nothing', { timeout: 120_000 }, () => {
  const r = runRestore(env, ['--target-name', 'before-batch-after-name', '--backup', backup.backupId, '--plan-only']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`a restore would use ${backup.backupId} \\(plan only`));
  const plan = /^ {2}plan .* (\d+) WAL file\(s\) {2}timeline 1 \(path 1\), (\w{24}) \.\. (\w{24})$/m.exec(r.stdout);
  assert.ok(plan, r.stdout);
  assert.ok(Number(plan[1]) >= 1 && plan[2] <= plan[3], r.stdout);
  assert.equal(plan[2], backup.startWal, 'the WAL starts where the backup does');
  assert.doesNotMatch(r.stdout, /^ {2}(check|download|prefetch|configure|recover) /m, 'no host phase ran');

  const missing = env.walflow(['restore', '--immediate']);
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /pgdata: required \(--pgdata\).*--plan-only/);
});
