// Recovery runs beside the WAL prefetch: PostgreSQL starts once the recovery settings are
// written, restore_command (walflow fetch) waits for files on their way and reads the stores
// itself where the prefetch cannot get a file yet.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { clusterQueue, RESTORE_PROGRESS_QUERY, type RestoreProgress } from '../lib/contracts';
import { PgCluster } from '../lib/devstack/pgcluster';
import { chownToPostgres, freePort } from '../lib/devstack/procs';
import { TestEnv, waitFor } from './support/env';
import { corruptInStore, pitrEnv, restoredCluster, takeBackup, waitArchived } from './support/pitr';

let env: TestEnv;
let pg: PgCluster;
const restored: PgCluster[] = [];

before(async () => {
  // fetch keeps asking the stores for longer than the test keeps the file from them.
  ({ env, pg } = await pitrEnv('restore-overlap', { WALFLOW_FETCH_GIVE_UP_AFTER: '120s' }));
  await pg.query('CREATE TABLE t (id serial PRIMARY KEY, batch text NOT NULL)');
});

after(async () => {
  for (const r of restored) await r.stop('immediate').catch(() => undefined);
  await pg?.stop('immediate');
  await env?.close();
});

test(
  'PostgreSQL starts while the prefetch still waits for a file, and recovery gets it once a store has it',
  { timeout: 300_000 },
  async () => {
    await takeBackup(env);
    const segments: string[] = [];
    for (const batch of ['o1', 'o2', 'o3']) {
      await pg.query('INSERT INTO t (batch) SELECT $1 FROM generate_series(1, 500)', [batch]);
      const s = await pg.switchWal();
      await waitArchived(env, s);
      segments.push(s);
    }
    // The middle segment: a corrupt copy in r2, none in b2, until the test puts a good one back.
    const key = `restore-overlap/wal/${segments[1].slice(0, 8)}/${segments[1]}.zst`;
    const b2 = env.stores.get('b2')!;
    const good = await b2.get(key);
    const meta = (await b2.head(key))!.meta!;
    corruptInStore(env, 'r2', key);
    await b2.delete(key);

    const port = await freePort();
    const data = path.join(env.dir, 'restored', 'data');
    fs.mkdirSync(path.dirname(data), { recursive: true });
    chownToPostgres(path.dirname(data));
    const handle = await (
      await env.client()
    ).workflow.start('restore', {
      taskQueue: clusterQueue(env.config.cluster),
      workflowId: `restore/restore-overlap/${Date.now()}`,
      args: [{ cluster: env.config.cluster, hostId: env.config.hostId, pgdata: data, port, start: true }],
    });
    restored.push(restoredCluster(env, data, port));
    try {
      // Before the change, PostgreSQL started only once every planned file was prefetched.
      await waitFor(
        'PostgreSQL recovering while the prefetch is still at work',
        async () => {
          const pending = (await handle.describe()).raw.pendingActivities?.map((a) => a.activityType?.name) ?? [];
          return pending.includes('startRestored') && pending.includes('prefetchWal');
        },
        120_000,
      );
      const during = await handle.query<RestoreProgress>(RESTORE_PROGRESS_QUERY);
      assert.equal(during.phases.find((p) => p.phase === 'prefetch')?.state, 'running', JSON.stringify(during));
    } finally {
      await b2.putNew(key, good, meta);
    }
    const result = (await handle.result()) as RestoreProgress;
    assert.equal(result.phase, 'promoted');
    assert.match(result.phases.find((p) => p.phase === 'recover')?.detail ?? '', /archive ends at/);
    const rows = await restored[0].query<{ batch: string; n: number }>(
      'SELECT batch, count(*)::int AS n FROM t GROUP BY batch ORDER BY batch',
    );
    assert.deepEqual(rows, [
      { batch: 'o1', n: 500 },
      { batch: 'o2', n: 500 },
      { batch: 'o3', n: 500 },
    ]);
  },
);
