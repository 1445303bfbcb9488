// Incremental backups (PostgreSQL 17+): chains of a full backup and incrementals on top, restored
// through pg_combinebackup to an exact time, kept whole by retention, read from the second store
// when the first is down, and refused before anything is written when a link is missing.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { PgCluster } from '../lib/devstack/pgcluster';
import { chownToPostgres, freePort, sleep } from '../lib/devstack/procs';
import { BackupManifest, RESTORE_PROGRESS_QUERY, RestoreProgress } from '../lib/contracts';
import { TestEnv } from './support/env';
import { pitrEnv, restoredCluster, runRestore, takeBackup, waitArchived } from './support/pitr';

// pg_basebackup --incremental and pg_combinebackup came with 17: this file runs on 18 unless told a 17+.
if (Number(process.env.WALFLOW_TEST_PG_MAJOR ?? 0) < 17) process.env.WALFLOW_TEST_PG_MAJOR = '18';

let env: TestEnv;
let pg: PgCluster;
/** Taken before summarize_wal was on: no incremental builds on it. */
let early: BackupManifest;
let full: BackupManifest;
let incr1: BackupManifest;
let incr2: BackupManifest;
const restored: PgCluster[] = [];

before(async () => {
  ({ env, pg } = await pitrEnv('incremental'));
  await pg.query('CREATE TABLE t (id serial PRIMARY KEY, batch text NOT NULL)');
  // Ballast the incrementals leave alone, so that they are visibly smaller than the full backup.
  await pg.query("CREATE TABLE ballast AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 200000) g");
  early = await takeBackup(env);
});

after(async () => {
  await env?.stack.start('r2');
  for (const r of restored) await r.stop('immediate').catch(() => undefined);
  await pg?.stop('immediate');
  await env?.close();
});

async function insert(batch: string, n = 500): Promise<void> {
  await pg.query(`INSERT INTO t (batch) SELECT $1 FROM generate_series(1, ${n})`, [batch]);
}

async function manifestOf(backupId: string): Promise<BackupManifest> {
  const key = `${env.config.cluster}/backups/${backupId}/manifest.json`;
  return JSON.parse((await env.stores.get('b2')!.get(key)).toString()) as BackupManifest;
}

function incremental(): { status: number | null; stdout: string; stderr: string } {
  return env.walflow(['backup', '--incremental', '--wait']);
}

/** `walflow backup --incremental --wait`; the new backup's manifest. */
async function takeIncremental(): Promise<BackupManifest> {
  const r = incremental();
  assert.equal(r.status, 0, `walflow backup --incremental failed: ${r.stderr}`);
  const id = /incremental backup (\S+) \(on /.exec(r.stdout)?.[1];
  assert.ok(id, r.stdout);
  return manifestOf(id);
}

function emptyDir(name: string): string {
  const dir = path.join(env.dir, name);
  fs.mkdirSync(dir, { recursive: true });
  chownToPostgres(dir);
  return path.join(dir, 'data');
}

/** What the restore that printed `stderr` reports of its phases. */
async function progressOf(stderr: string): Promise<RestoreProgress> {
  const workflowId = /restore started: (\S+)/.exec(stderr)![1];
  return (await env.client()).workflow.getHandle(workflowId).query<RestoreProgress>(RESTORE_PROGRESS_QUERY);
}
test('without summarize_wal an incremental is refused with a message naming the setting', () => {
  const r = incremental();
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /summarize_wal = on/);
});

test('a full backup and two incrementals form a chain that `walflow backups` shows', async () => {
  await pg.query('ALTER SYSTEM SET summarize_wal = on');
  await pg.query('SELECT pg_reload_conf()');
  await insert('full');
  full = await takeBackup(env);
  assert.equal(full.format, 1);
  assert.equal(full.parent, undefined);
  await insert('incr1');
  await pg.query('UPDATE ballast SET pad = pad WHERE id <= 100');
  incr1 = await takeIncremental();
  await insert('incr2');
  incr2 = await takeIncremental();
  assert.deepEqual([incr1.format, incr1.parent, incr2.format, incr2.parent], [2, full.backupId, 2, incr1.backupId]);
  assert.ok(incr2.rawSize * 4 < full.rawSize, `incremental ${incr2.rawSize} bytes, full ${full.rawSize}`);
  const listed = JSON.parse(env.walflow(['backups', '--json']).stdout) as {
    backupId: string;
    kind: string;
    parent: string | null;
  }[];
  const row = (id: string) => listed.find((b) => b.backupId === id)!;
  assert.deepEqual(
    [row(full.backupId), row(incr1.backupId), row(incr2.backupId)].map((b) => [b.kind, b.parent]),
    [
      ['full', null],
      ['incremental', full.backupId],
      ['incremental', incr1.backupId],
    ],
  );
  assert.match(env.walflow(['backups']).stdout, new RegExp(`${incr2.backupId} .*incr on ${incr1.backupId}`));
});

test('restore to a time after the second incremental combines the chain: rows before it, none after', async () => {
  await insert('before-time');
  const [{ t }] = await pg.query<{ t: Date }>('SELECT clock_timestamp() AS t');
  await sleep(1500);
  await insert('after-time');
  await waitArchived(env, await pg.switchWal());
  const port = await freePort();
  const data = emptyDir('restored-time');
  const r = runRestore(env, ['--target-time', t.toISOString(), '--pgdata', data, '--start', '--port', String(port)]);
  const c = restoredCluster(env, data, port);
  restored.push(c);
  assert.equal(r.status, 0, `restore failed: ${r.stderr}\n${r.stdout}`);
  const rows = await c.query<{ batch: string; n: number }>(
    'SELECT batch, count(*)::int AS n FROM t GROUP BY batch ORDER BY batch',
  );
  assert.deepEqual(rows, [
    { batch: 'before-time', n: 500 },
    { batch: 'full', n: 500 },
    { batch: 'incr1', n: 500 },
    { batch: 'incr2', n: 500 },
  ]);
  const progress = await progressOf(r.stderr);
  assert.equal(progress.backupId, incr2.backupId);
  assert.deepEqual(
    progress.phases.map((p) => p.phase).filter((p) => p.startsWith('download') || p === 'combine'),
    [`download ${full.backupId}`, `download ${incr1.backupId}`, `download ${incr2.backupId}`, 'combine'],
  );
  const work = path.join(env.config.spoolDir, env.config.cluster, 'restores');
  for (const restore of fs.readdirSync(work))
    assert.deepEqual(fs.readdirSync(path.join(work, restore, 'chain')), [], 'the unpacked links are gone');
});

test('retention keeps the chain of a kept incremental whole, and deletes what no chain needs', async () => {
  const asOf = new Date(Date.now() + 2 * 86_400_000).toISOString();
  const r = env.walflow(['prune', '--retention-days', '1', '--min-backups', '1', '--as-of', asOf, '--json']);
  assert.equal(r.status, 0, r.stderr);
  for (const store of env.stores.values()) {
    const has = async (b: BackupManifest) =>
      (await store.head(`${env.config.cluster}/backups/${b.backupId}/manifest.json`)) !== undefined;
    assert.deepEqual(
      await Promise.all([early, full, incr1, incr2].map(has)),
      [false, true, true, true],
      `${store.name}: only the newest backup is young enough, and it needs its whole chain`,
    );
  }
});

test('with the first store down, the chain is read from the second', async () => {
  const data = emptyDir('restored-outage');
  await env.stack.stop('r2');
  let r;
  try {
    r = runRestore(env, ['--backup', incr2.backupId, '--immediate', '--pgdata', data]);
  } finally {
    await env.stack.start('r2');
  }
  assert.equal(r.status, 0, `restore failed: ${r.stderr}\n${r.stdout}`);
  const progress = await progressOf(r.stderr);
  for (const b of [full, incr1, incr2])
    assert.match(progress.phases.find((p) => p.phase === `download ${b.backupId}`)?.detail ?? '', /failover/);
  assert.ok(fs.existsSync(path.join(data, 'backup_manifest')) && fs.existsSync(path.join(data, 'PG_VERSION')));
});

test('a chain whose middle link is in no store is refused before anything is written, and verify reports it', async () => {
  for (const store of env.stores.values())
    await store.delete(`${env.config.cluster}/backups/${incr1.backupId}/manifest.json`);
  const data = emptyDir('restored-broken');
  const r = runRestore(env, ['--backup', incr2.backupId, '--immediate', '--pgdata', data]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr + r.stdout, new RegExp(`builds on ${incr1.backupId}, which is complete in no store`));
  assert.deepEqual(fs.existsSync(data) ? fs.readdirSync(data) : [], []);
  const v = env.walflow(['verify', '--json']);
  assert.match(v.stdout, new RegExp(`incremental backup ${incr2.backupId} builds on ${incr1.backupId}`));
});
