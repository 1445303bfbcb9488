// Two clusters configured with the same name never mix their WAL, and an object already in a
// store with other bytes is never overwritten: both become alerts, the spool copy is kept.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { parseClusterJson } from '../lib/clusterjson';
import { PgCluster } from '../lib/devstack/pgcluster';
import { catalogQuery } from './support/catalog';
import { TestEnv, waitFor } from './support/env';

let a: TestEnv;
let b: TestEnv;
let pgA: PgCluster;
let pgB: PgCluster;

before(async () => {
  a = new TestEnv('identity-a');
  b = new TestEnv('identity-b', { WALFLOW_CLUSTER: 'identity-a' }); // same cluster name, another system
  await a.startWorker();
  await b.startWorker();
  pgA = await a.createCluster();
});

after(async () => {
  await pgA?.stop('immediate');
  await pgB?.stop('immediate');
  await a?.close();
  await b?.close();
});

const alertsOf = (kind: string) =>
  catalogQuery<{ key: string; message: string }>(
    a.config.catalogUrl,
    'SELECT key, message FROM alerts WHERE cluster = $1 AND kind = $2 AND resolved_at IS NULL',
    ['identity-a', kind],
  );

test(
  'an object with other bytes under the same name is not overwritten: alert, spool copy kept',
  { timeout: 120_000 },
  async () => {
    const first = await pgA.switchWal();
    await waitFor(`${first} archived`, () => a.stores.get('b2')!.head(`identity-a/wal/00000001/${first}.zst`), 60_000);
    await pgA.query('CREATE TABLE t AS SELECT generate_series(1, 10000) AS id');
    const [{ name: next }] = await pgA.query<{ name: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS name');
    const key = `identity-a/wal/00000001/${next}.zst`;
    const squatter = Buffer.from('not this segment');
    await a.stores
      .get('r2')!
      .putNew(key, squatter, { codec: 'none', rawSize: squatter.length, sha256: '0'.repeat(64) });
    assert.equal(await pgA.switchWal(), next);

    await waitFor(
      'content-conflict alert',
      async () => (await alertsOf('content-conflict')).some((x) => x.key === `content-conflict:${next}`),
      60_000,
    );
    await waitFor('spool copy quarantined', () => fs.existsSync(path.join(a.spoolDir, 'conflict', next)), 30_000);
    assert.deepEqual(await a.stores.get('r2')!.get(key), squatter, 'the existing object is untouched');
    assert.equal(a.spoolFiles().includes(next), false, 'the conflict leaves the queue');
  },
);

test('WAL from another system under the same cluster name is refused by the stores', { timeout: 120_000 }, async () => {
  pgB = await b.createCluster([], 'pg-b');
  const seg = await pgB.switchWal();
  await waitFor('cluster-mismatch alert', async () => (await alertsOf('cluster-mismatch')).length > 0, 60_000);
  await waitFor('foreign segment quarantined', () => fs.existsSync(path.join(b.spoolDir, 'conflict', seg)), 30_000);
  const [{ sysid }] = await pgA.query<{ sysid: string }>(
    'SELECT system_identifier::text AS sysid FROM pg_control_system()',
  );
  for (const store of ['r2', 'b2']) {
    const identity = parseClusterJson(await a.stores.get(store)!.get('identity-a/cluster.json'), 'identity-a');
    assert.equal(identity.systemIdentifier, sysid, `${store} still belongs to cluster A`);
  }
  const [{ sysidB }] = await pgB.query<{ sysidB: string }>(
    'SELECT system_identifier::text AS "sysidB" FROM pg_control_system()',
  );
  assert.notEqual(sysidB, sysid, 'the two clusters are different systems');
  const foreignSha = createHash('sha256')
    .update(fs.readFileSync(path.join(b.spoolDir, 'conflict', seg)))
    .digest('hex');
  const recorded = await catalogQuery(a.config.catalogUrl, 'SELECT name FROM wal_files WHERE sha256 = $1', [
    foreignSha,
  ]);
  assert.deepEqual(recorded, [], 'nothing from cluster B was recorded as archived');
});
