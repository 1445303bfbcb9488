// A promotion produces a .history file and the old timeline's .partial segment: both archived.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { codecByName } from '../lib/codec';
import { PgCluster } from '../lib/devstack/pgcluster';
import { TestEnv, waitFor } from './support/env';

let env: TestEnv;
let primary: PgCluster;
let standby: PgCluster;

before(async () => {
  env = new TestEnv('timelines');
  await env.startWorker();
  primary = await env.createCluster();
});

after(async () => {
  await standby?.stop('immediate');
  await primary?.stop('immediate');
  await env?.close();
});

test('.history and .partial files from a promotion reach both stores', { timeout: 180_000 }, async () => {
  await primary.query('CREATE TABLE t AS SELECT generate_series(1, 1000) AS id');
  standby = await primary.createStandby(path.join(env.dir, 'standby'));
  const data = standby.data;
  await primary.query('INSERT INTO t SELECT generate_series(1001, 2000)');
  await waitFor(
    'standby replay',
    async () => Number((await standby.query<{ n: string }>('SELECT count(*) AS n FROM t'))[0].n) === 2000,
    30_000,
  );
  await primary.stop('fast');
  await standby.query('SELECT pg_promote(true, 60)');
  await standby.query('INSERT INTO t SELECT generate_series(2001, 3000)');
  const tl2Segment = await standby.switchWal();
  assert.match(tl2Segment, /^00000002/);

  const partial = fs.readdirSync(path.join(data, 'pg_wal')).find((f) => f.endsWith('.partial'));
  assert.ok(partial, 'promotion left a .partial segment');
  const expected = [
    'timelines/wal/00000002.history',
    `timelines/wal/00000001/${partial}.zst`,
    `timelines/wal/00000002/${tl2Segment}.zst`,
  ];
  for (const store of ['r2', 'b2']) {
    await waitFor(
      `${expected.join(', ')} in ${store}`,
      async () => {
        const keys = new Set(await env.walKeys(store));
        return expected.every((k) => keys.has(k));
      },
      90_000,
    );
  }
  // The history file is stored as plain text, byte for byte what PostgreSQL wrote.
  const history = await env.stores.get('b2')!.get('timelines/wal/00000002.history');
  assert.deepEqual(history, fs.readFileSync(path.join(data, 'pg_wal', '00000002.history')));
  const obj = await env.stores.get('r2')!.get(expected[1]);
  const raw = await codecByName('zstd').decompress(obj);
  assert.equal(raw.length, 16 << 20);
});
