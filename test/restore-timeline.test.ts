// Restore across a promotion: a backup taken on timeline 1, the target on timeline 2. The
// restore follows the history file from the archive into the new timeline.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { PgCluster } from '../lib/devstack/pgcluster';
import { freePort } from '../lib/devstack/procs';
import { TestEnv, waitFor } from './support/env';
import { pitrEnv, restoredCluster, runRestore, takeBackup, waitArchived } from './support/pitr';

let env: TestEnv;
let primary: PgCluster;
let standby: PgCluster | undefined;
let restored: PgCluster | undefined;

before(async () => {
  ({ env, pg: primary } = await pitrEnv('restore-tl'));
});

after(async () => {
  await restored?.stop('immediate').catch(() => undefined);
  await standby?.stop('immediate').catch(() => undefined);
  await primary?.stop('immediate').catch(() => undefined);
  await env?.close();
});

test('a timeline 1 backup restores to a restore point on timeline 2', { timeout: 300_000 }, async () => {
  await primary.query('CREATE TABLE t (id serial PRIMARY KEY, batch text NOT NULL)');
  await primary.query("INSERT INTO t (batch) SELECT 'tl1' FROM generate_series(1, 500)");
  const backup = await takeBackup(env);
  assert.equal(backup.timeline, 1);

  standby = await primary.createStandby(path.join(env.dir, 'standby'));
  await primary.query("INSERT INTO t (batch) SELECT 'tl1-late' FROM generate_series(1, 500)");
  await waitFor(
    'standby replay',
    async () => Number((await standby!.query<{ n: string }>('SELECT count(*) AS n FROM t'))[0].n) === 1000,
    30_000,
  );
  await waitArchived(env, await primary.switchWal());
  await primary.stop('fast');
  await standby.query('SELECT pg_promote(true, 60)');
  await standby.query("INSERT INTO t (batch) SELECT 'tl2-before' FROM generate_series(1, 500)");
  await standby.query("SELECT pg_create_restore_point('on-tl2')");
  await standby.query("INSERT INTO t (batch) SELECT 'tl2-after' FROM generate_series(1, 500)");
  const tl2Segment = await standby.switchWal();
  assert.match(tl2Segment, /^00000002/);
  await waitArchived(env, tl2Segment);
  await waitFor(
    'history file in both stores',
    async () =>
      (await Promise.all([...env.stores.values()].map((s) => s.head('restore-tl/wal/00000002.history')))).every(
        Boolean,
      ),
    60_000,
  );

  const port = await freePort();
  const target = path.join(env.dir, 'restored', 'data');
  const r = runRestore(env, ['--target-name', 'on-tl2', '--pgdata', target, '--start', '--port', String(port)]);
  restored = restoredCluster(env, target, port);
  assert.equal(r.status, 0, `restore failed: ${r.stderr}\n${r.stdout}`);
  assert.match(r.stdout, /timeline 2 \(path 2 <- 1\)/);
  const rows = await restored.query<{ batch: string; n: number }>(
    'SELECT batch, count(*)::int AS n FROM t GROUP BY batch ORDER BY batch',
  );
  assert.deepEqual(Object.fromEntries(rows.map((x) => [x.batch, x.n])), {
    tl1: 500,
    'tl1-late': 500,
    'tl2-before': 500,
  });
  const [{ tli }] = await restored.query<{ tli: number }>('SELECT timeline_id AS tli FROM pg_control_checkpoint()');
  assert.ok(tli >= 3, `promoted onto a new timeline after 2, got ${tli}`);
});
