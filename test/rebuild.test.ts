// The catalog database lost and rebuilt from the stores: status reads as before.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PgCluster } from '../lib/devstack/pgcluster';
import { catalogQuery } from './support/catalog';
import { TestEnv, waitFor } from './support/env';

let env: TestEnv;
let pg: PgCluster;

before(async () => {
  env = new TestEnv('rebuild');
  await env.startWorker();
  pg = await env.createCluster();
});

after(async () => {
  await pg?.stop('immediate');
  await env?.close();
});

test('catalog dropped and rebuilt from a store listing: status reads the same', { timeout: 180_000 }, async () => {
  await pg.query('CREATE TABLE t AS SELECT generate_series(1, 50000) AS id');
  const last = await pg.switchWal();
  await waitFor('archived', () => env.spoolFiles().length === 0 && env.walKeys('r2').then((k) => k.some((x) => x.includes(last))), 90_000);
  await env.stopWorker();
  const before = JSON.parse(env.walflow(['status', '--json']).stdout);
  const rowsBefore = await catalogQuery(env.config.catalogUrl, "SELECT name, sha256, raw_size, codec, key FROM wal_files WHERE cluster = 'rebuild' ORDER BY name");

  // Lose the whole catalog: every table and the migration journal.
  await catalogQuery(env.config.catalogUrl, 'DROP SCHEMA public CASCADE; CREATE SCHEMA public; DROP SCHEMA IF EXISTS drizzle CASCADE');

  const r = env.walflow(['catalog', 'rebuild']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`catalog rebuilt for rebuild: ${rowsBefore.length} WAL files and ${rowsBefore.length * 2} copies`));
  const rowsAfter = await catalogQuery(env.config.catalogUrl, "SELECT name, sha256, raw_size, codec, key FROM wal_files WHERE cluster = 'rebuild' ORDER BY name");
  assert.deepEqual(rowsAfter, rowsBefore);
  const after = JSON.parse(env.walflow(['status', '--json']).stdout);
  assert.deepEqual(after.stores.r2.newestSegment, before.stores.r2.newestSegment);
  assert.deepEqual(after.stores.b2.newestSegment, before.stores.b2.newestSegment);
  assert.deepEqual(after.archived.files, before.archived.files);
  const again = env.walflow(['catalog', 'rebuild']);
  assert.match(again.stdout, /0 WAL files and 0 copies recorded/, 'a second rebuild changes nothing');
});
