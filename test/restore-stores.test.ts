// Restore looks at the backups of every store, not only the first one it can list, and takes
// each chunk from whichever store holds a verified copy.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { PgCluster } from '../lib/devstack/pgcluster';
import { chownToPostgres, freePort } from '../lib/devstack/procs';
import { clusterQueue, type BackupManifest, type RestoreProgress } from '../lib/contracts';
import { TestEnv, waitFor } from './support/env';
import { pitrEnv, restoredCluster, runRestore, takeBackup } from './support/pitr';

let env: TestEnv;
let pg: PgCluster;
const restored: PgCluster[] = [];

before(async () => {
  ({ env, pg } = await pitrEnv('restore-stores'));
});

after(async () => {
  await env?.stack.start('r2'); // shared by every test file
  for (const r of restored) await r.stop('immediate').catch(() => undefined);
  await pg?.stop('immediate');
  await env?.close();
});

/** Zeros in the data folder make the backup span several chunks without costing WAL. */
function ballast(bytes: number): void {
  const file = path.join(pg.data, 'walflow_test_ballast');
  fs.writeFileSync(file, Buffer.alloc(bytes));
  chownToPostgres(file);
}

test(
  'the newest backup, its manifest only in the second store and its chunks split between stores, restores',
  { timeout: 300_000 },
  async () => {
    await pg.query('CREATE TABLE t (id serial PRIMARY KEY, batch text NOT NULL)');
    await pg.query("INSERT INTO t (batch) SELECT 'older' FROM generate_series(1, 1000)");
    const older = await takeBackup(env);
    await pg.query("INSERT INTO t (batch) SELECT 'newer' FROM generate_series(1, 1000)");
    ballast(200 << 20);
    const newer: BackupManifest = await takeBackup(env);
    assert.notEqual(newer.backupId, older.backupId);
    assert.ok(newer.files.length >= 3, `chunks to split: ${newer.files.length}`);

    // The first store lost the manifest and every other chunk; the second store lost the rest.
    const prefix = `${env.config.cluster}/backups/${newer.backupId}/`;
    await env.stores.get('r2')!.delete(prefix + 'manifest.json');
    for (const [i, f] of newer.files.entries())
      await env.stores.get(i % 2 === 0 ? 'r2' : 'b2')!.delete(prefix + f.name);

    const dir = path.join(env.dir, 'restored');
    fs.mkdirSync(dir, { recursive: true });
    chownToPostgres(dir);
    const port = await freePort();
    const r = runRestore(env, ['--immediate', '--pgdata', path.join(dir, 'data'), '--start', '--port', String(port)]);
    const c = restoredCluster(env, path.join(dir, 'data'), port);
    restored.push(c);
    assert.equal(r.status, 0, `restore failed: ${r.stderr}\n${r.stdout}`);
    assert.match(r.stdout, new RegExp(`restored ${newer.backupId}`), r.stdout);
    const rows = await c.query<{ batch: string; n: number }>(
      'SELECT batch, count(*)::int AS n FROM t GROUP BY batch ORDER BY batch',
    );
    assert.deepEqual(rows, [
      { batch: 'newer', n: 1000 },
      { batch: 'older', n: 1000 },
    ]);
  },
);

test('a chunk only in a store that is down is waited for, not taken for missing', { timeout: 300_000 }, async () => {
  const backup = await takeBackup(env);
  assert.ok(backup.files.length >= 3, `chunks: ${backup.files.length}`);
  const prefix = `${env.config.cluster}/backups/${backup.backupId}/`;
  await env.stores.get('b2')!.delete(prefix + backup.files[1].name);
  const dir = path.join(env.dir, 'restored-outage');
  fs.mkdirSync(dir, { recursive: true });
  chownToPostgres(dir);
  await env.stack.stop('r2');
  const handle = await (
    await env.client()
  ).workflow.start('restore', {
    taskQueue: clusterQueue(env.config.cluster),
    workflowId: `restore/restore-stores/outage-${Date.now()}`,
    // Chosen by id: left to choose, restore would take an older backup that the stores it can reach hold whole.
    args: [
      {
        cluster: env.config.cluster,
        hostId: env.config.hostId,
        backupId: backup.backupId,
        immediate: true,
        pgdata: path.join(dir, 'data'),
      },
    ],
  });
  try {
    // The download fails while r2 is down; the workflow must still be waiting for it.
    await waitFor(
      'a failed download attempt',
      async () => {
        const d = await handle.describe();
        if (d.status.name !== 'RUNNING') return true;
        return d.raw.pendingActivities?.some((a) => a.activityType?.name === 'downloadBackup' && (a.attempt ?? 1) >= 2);
      },
      120_000,
    );
  } finally {
    await env.stack.start('r2');
  }
  const result = (await handle.result()) as RestoreProgress;
  assert.equal(result.backupId, backup.backupId);
  assert.equal(result.phase, 'ready to start');
});
