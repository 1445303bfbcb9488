// A backup of a restored cluster: B0 restored to a time T (started by hand, as a user does
// without --start), promoted on timeline 2 and archiving into the same cluster as the new
// production, backed up as B2. B2 must restore to the end of the archive, to a time and to a
// name, not to the earlier restore's T that its configuration once carried.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { PgCluster } from '../lib/devstack/pgcluster';
import { freePort, sleep } from '../lib/devstack/procs';
import type { BackupManifest } from '../lib/contracts';
import { TestEnv, waitFor } from './support/env';
import { pitrEnv, restoredCluster, runRestore, takeBackup, waitArchived } from './support/pitr';

let env: TestEnv;
let primary: PgCluster;
let production: PgCluster;
let b2: BackupManifest;
let afterB2: Date;
const restored: PgCluster[] = [];

/** Recovery settings still in force (not commented out) in the data folder's configuration. */
function liveRecoverySettings(data: string): string[] {
  const live: string[] = [];
  for (const file of ['postgresql.conf', 'postgresql.auto.conf']) {
    for (const line of fs.readFileSync(path.join(data, file), 'utf8').split('\n')) {
      const m = /^\s*(restore_command|recovery_\w+|archive_cleanup_command|primary_conninfo|primary_slot_name)\b/i.exec(
        line,
      );
      if (m) live.push(`${file}: ${line.trim()}`);
    }
  }
  return live;
}

async function rows(c: PgCluster): Promise<Record<string, number>> {
  const r = await c.query<{ batch: string; n: number }>('SELECT batch, count(*)::int AS n FROM t GROUP BY batch');
  return Object.fromEntries(r.map((x) => [x.batch, x.n]));
}

async function insert(c: PgCluster, batch: string, n: number): Promise<void> {
  await c.query(`INSERT INTO t (batch) SELECT $1 FROM generate_series(1, ${n})`, [batch]);
}

let n = 0;
async function restoreB2(args: string[]): Promise<{ cluster: PgCluster; stdout: string; workflowId: string }> {
  const port = await freePort();
  const data = path.join(env.dir, `from-b2-${++n}`, 'data');
  const r = runRestore(env, [...args, '--backup', b2.backupId, '--pgdata', data, '--start', '--port', String(port)]);
  const cluster = restoredCluster(env, data, port);
  restored.push(cluster);
  assert.equal(r.status, 0, `restore failed: ${r.stderr}\n${r.stdout}`);
  return { cluster, stdout: r.stdout, workflowId: /restore started: (\S+)/.exec(r.stderr)![1] };
}

before(async () => {
  ({ env, pg: primary } = await pitrEnv('restore-rr'));
  await primary.query('CREATE TABLE t (id serial PRIMARY KEY, batch text NOT NULL)');
  await insert(primary, 'b0', 1000);
  await takeBackup(env);
  await insert(primary, 'before-t', 1000);
  const [{ t }] = await primary.query<{ t: Date }>('SELECT clock_timestamp() AS t');
  await sleep(1500);
  await insert(primary, 'after-t', 1000);
  await waitArchived(env, await primary.switchWal());
  await primary.stop('fast');

  // B0 to T, archiving (--archive) into the same cluster, on the old primary's port so that
  // the worker's WALFLOW_PG_URL backs it up; no --start: started by hand as a user would.
  const data = path.join(env.dir, 'production', 'data');
  const r = runRestore(env, [
    '--target-time',
    t.toISOString(),
    '--archive',
    '--pgdata',
    data,
    '--port',
    String(primary.port),
  ]);
  assert.equal(r.status, 0, `restore to T failed: ${r.stderr}\n${r.stdout}`);
  production = new PgCluster(data, primary.port, primary.runDir, path.join(env.dir, 'production', 'postgres.log'));
  await production.start();
  await waitFor(
    'promotion',
    async () => {
      const [{ standby }] = await production.query<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby');
      return !standby;
    },
    120_000,
  );
});

after(async () => {
  for (const c of restored) await c.stop('immediate').catch(() => undefined);
  await production?.stop('immediate').catch(() => undefined);
  await primary?.stop('immediate').catch(() => undefined);
  await env?.close();
});

test(
  'a restore started by hand no longer carries its target or restore_command once promoted',
  { timeout: 120_000 },
  async () => {
    const [{ tli }] = await production.query<{ tli: number }>('SELECT timeline_id AS tli FROM pg_control_checkpoint()');
    assert.equal(tli, 2);
    await waitFor(
      'configuration cleaned after promotion',
      () => liveRecoverySettings(production.data).length === 0,
      30_000,
    ).catch(() => undefined);
    assert.deepEqual(liveRecoverySettings(production.data), [], 'recovery settings left in force after promotion');
    const auto = fs.readFileSync(path.join(production.data, 'postgresql.auto.conf'), 'utf8');
    assert.match(auto, /^#.*recovery_target_time = /m, 'the old target stays readable as a comment');
  },
);

test(
  'a backup of the restored cluster restores to the end of the archive with every row',
  { timeout: 600_000 },
  async () => {
    assert.deepEqual(await rows(production), { b0: 1000, 'before-t': 1000 });
    // As a restore by an earlier walflow left its configuration (the production clusters that
    // exist today): its settings still in force, which the running server reads only at start.
    const restoredT = /recovery_target_time = (.*)$/m.exec(
      fs.readFileSync(path.join(production.data, 'postgresql.auto.conf'), 'utf8'),
    )![1];
    fs.appendFileSync(
      path.join(production.data, 'postgresql.auto.conf'),
      [
        '# written by walflow restore at an earlier time',
        "restore_command = '/nonexistent/walflow fetch %f %p'",
        "recovery_target_timeline = 'latest'",
        `recovery_target_time = ${restoredT}`,
        "recovery_target_action = 'promote'",
        '',
      ].join('\n'),
    );
    await insert(production, 'tl2-a', 1000);
    b2 = await takeBackup(env);
    assert.equal(b2.timeline, 2);
    await insert(production, 'tl2-b', 500);
    const [{ t }] = await production.query<{ t: Date }>('SELECT clock_timestamp() AS t');
    afterB2 = t;
    await sleep(1500);
    await insert(production, 'tl2-c', 500);
    await production.query("SELECT pg_create_restore_point('rr-name')");
    await insert(production, 'tl2-d', 500);
    const last = await production.switchWal();
    assert.match(last, /^00000002/);
    await waitArchived(env, last);

    const { cluster, stdout, workflowId } = await restoreB2([]);
    assert.deepEqual(await rows(cluster), {
      b0: 1000,
      'before-t': 1000,
      'tl2-a': 1000,
      'tl2-b': 500,
      'tl2-c': 500,
      'tl2-d': 500,
    });
    assert.match(stdout, /configure.*disabled.*recovery_target_time/, `the restore says what it disabled:\n${stdout}`);
    const memo = (await (await env.client()).workflow.getHandle(workflowId).describe()).memo as { phases: string };
    assert.match(memo.phases, /configure: done.*disabled.*recovery_target_time/, 'and so does its memo');
    assert.deepEqual(liveRecoverySettings(cluster.data), [], 'promoted by the restore: no recovery settings left');
  },
);

test('the same backup restores to a time', { timeout: 300_000 }, async () => {
  const { cluster } = await restoreB2(['--target-time', afterB2.toISOString()]);
  assert.deepEqual(await rows(cluster), { b0: 1000, 'before-t': 1000, 'tl2-a': 1000, 'tl2-b': 500 });
});

test('the same backup restores to a restore point name', { timeout: 300_000 }, async () => {
  const { cluster } = await restoreB2(['--target-name', 'rr-name']);
  assert.deepEqual(await rows(cluster), { b0: 1000, 'before-t': 1000, 'tl2-a': 1000, 'tl2-b': 500, 'tl2-c': 500 });
});
