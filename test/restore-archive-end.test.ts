// A restore to the end of the archive never stops early and reports success: WAL that a store
// holds but cannot hand over fails the restore, whether prefetch or PostgreSQL's
// restore_command (walflow fetch) meets it, and a recovery that ends before the newest WAL in
// the stores fails it too. Each test damages the newest WAL after a fresh backup of its own.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { PgCluster } from '../lib/devstack/pgcluster';
import { freePort } from '../lib/devstack/procs';
import { catalogQuery } from './support/catalog';
import { TestEnv, waitFor } from './support/env';
import { corruptInStore, pitrEnv, restoredCluster, runRestore, takeBackup, waitArchived } from './support/pitr';

let env: TestEnv;
let pg: PgCluster;
const restored: PgCluster[] = [];

before(async () => {
  // fetch gives up quickly here; the default is 60s.
  ({ env, pg } = await pitrEnv('restore-end', { WALFLOW_FETCH_GIVE_UP_AFTER: '5s' }));
  await pg.query('CREATE TABLE t (id serial PRIMARY KEY, batch text NOT NULL)');
});

after(async () => {
  for (const r of restored) await r.stop('immediate').catch(() => undefined);
  await pg?.stop('immediate');
  await env?.close();
});

const keyOf = (segment: string) => `restore-end/wal/${segment.slice(0, 8)}/${segment}.zst`;

/** A fresh backup, then `batches` each in its own archived segment; returns the segments. */
async function backupThenSegments(batches: string[]): Promise<string[]> {
  await takeBackup(env);
  const segments: string[] = [];
  for (const b of batches) {
    await pg.query('INSERT INTO t (batch) SELECT $1 FROM generate_series(1, 500)', [b]);
    const s = await pg.switchWal();
    await waitArchived(env, s);
    segments.push(s);
  }
  return segments;
}

/** As if the catalog had not recorded the file yet: prefetch does not plan it, recovery asks the stores. */
async function forgetInCatalog(segment: string): Promise<void> {
  // The archive workflow records a file after its copies are in the stores: wait for that first.
  await waitFor(
    `${segment} recorded`,
    async () =>
      (
        await catalogQuery(
          env.config.catalogUrl,
          "SELECT 1 FROM wal_files WHERE cluster = 'restore-end' AND name = $1",
          [segment],
        )
      ).length === 1,
    60_000,
  );
  await catalogQuery(env.config.catalogUrl, "DELETE FROM wal_copies WHERE cluster = 'restore-end' AND name = $1", [
    segment,
  ]);
  await catalogQuery(env.config.catalogUrl, "DELETE FROM wal_files WHERE cluster = 'restore-end' AND name = $1", [
    segment,
  ]);
}

let n = 0;
async function restoreToEnd(): Promise<{ status: number; stdout: string; stderr: string; cluster: PgCluster }> {
  const port = await freePort();
  const data = path.join(env.dir, `restored-${++n}`, 'data');
  const r = runRestore(env, ['--pgdata', data, '--start', '--port', String(port)]);
  const cluster = restoredCluster(env, data, port);
  restored.push(cluster);
  return { ...r, cluster };
}

test(
  'a segment only in a store that fails to hand it over: prefetch fails the restore',
  { timeout: 300_000 },
  async () => {
    const [, last] = await backupThenSegments(['p1', 'p2']);
    corruptInStore(env, 'r2', keyOf(last));
    await env.stores.get('b2')!.delete(keyOf(last));
    const r = await restoreToEnd();
    assert.notEqual(r.status, 0, `reported success without ${last}:\n${r.stdout}`);
    assert.match(r.stderr, new RegExp(`${last}.*r2: .*corrupt`));
  },
);

test(
  'a segment only in a store that fails during recovery: fetch aborts it and the restore fails with its message',
  { timeout: 300_000 },
  async () => {
    const [, last] = await backupThenSegments(['f1', 'f2']);
    corruptInStore(env, 'r2', keyOf(last));
    await env.stores.get('b2')!.delete(keyOf(last));
    await forgetInCatalog(last);
    const r = await restoreToEnd();
    assert.notEqual(r.status, 0, `reported success without ${last}:\n${r.stdout}`);
    assert.match(r.stderr, /PostgreSQL stopped during recovery/);
    assert.match(r.stderr, new RegExp(`walflow fetch ${last}: .*r2: .*corrupt`), "carries fetch's message");
  },
);

test('a recovery that ends before the newest WAL in the stores fails the restore', { timeout: 300_000 }, async () => {
  const [, gap, newest] = await backupThenSegments(['g1', 'g2', 'g3']);
  for (const s of env.stores.values()) await s.delete(keyOf(gap));
  await forgetInCatalog(gap);
  const r = await restoreToEnd();
  assert.notEqual(r.status, 0, `reported success although ${newest} was never replayed:\n${r.stdout}`);
  assert.match(r.stderr, new RegExp(`restore ended at [0-9A-F]+/[0-9A-F]+, the archive holds WAL up to ${newest}`));
});

test('an intact archive restores to its end, checked against the newest WAL', { timeout: 300_000 }, async () => {
  await backupThenSegments(['ok1', 'ok2']);
  const r = await restoreToEnd();
  assert.equal(r.status, 0, `restore failed: ${r.stderr}\n${r.stdout}`);
  const [{ n: rows }] = await r.cluster.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM t WHERE batch IN ('ok1', 'ok2')",
  );
  assert.equal(rows, 1000);
  assert.match(r.stdout, /archive ends at/);
});
