// WAL from a real PostgreSQL reaches both stores, byte-identical, and leaves the spool.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { StatusReport } from '../cli/commands/status';
import { parseClusterJson } from '../lib/clusterjson';
import { codecByName } from '../lib/codec';
import { PgCluster } from '../lib/devstack/pgcluster';
import { TestEnv, waitFor } from './support/env';

let env: TestEnv;
let pg: PgCluster;

before(async () => {
  env = new TestEnv('archive');
  await env.startWorker();
  pg = await env.createCluster();
});

after(async () => {
  await pg?.stop('immediate');
  await env?.close();
});

test('pgbench WAL reaches both stores byte-identical and the spool empties', { timeout: 180_000 }, async () => {
  pg.tool('pgbench', ['-i', '-s', '3', 'postgres']);
  pg.tool('pgbench', ['-c', '2', '-t', '300', 'postgres']);
  const last = await pg.switchWal();
  const key = (n: string) => `archive/wal/00000001/${n}.zst`;
  for (const store of ['r2', 'b2']) {
    await waitFor(
      `${last} in ${store}`,
      async () => (await env.stores.get(store)!.head(key(last))) !== undefined,
      90_000,
    );
  }
  await waitFor('empty spool', () => env.spoolFiles().length === 0, 30_000);

  const keysR2 = await env.walKeys('r2');
  const keysB2 = await env.walKeys('b2');
  assert.deepEqual(keysR2, keysB2);
  assert.ok(keysR2.length >= 3, `expected several segments, got ${keysR2.join(', ')}`);

  // Every archived segment decompresses to exactly what PostgreSQL handed over: its recorded
  // SHA-256, its header's identity, and the same bytes from both stores.
  const [{ sysid }] = await pg.query<{ sysid: string }>(
    'SELECT system_identifier::text AS sysid FROM pg_control_system()',
  );
  for (const k of keysR2) {
    const [a, b] = await Promise.all(['r2', 'b2'].map((s) => env.stores.get(s)!.get(k)));
    const meta = (await env.stores.get('r2')!.head(k))!.meta!;
    const raw = await codecByName(meta.codec).decompress(a);
    assert.equal(createHash('sha256').update(raw).digest('hex'), meta.sha256, k);
    assert.deepEqual(await codecByName(meta.codec).decompress(b), raw, `${k} differs between stores`);
    assert.equal(raw.length, 16 * 1024 * 1024);
    assert.equal(raw.readBigUInt64LE(24).toString(), sysid);
  }
  const clusterJson = parseClusterJson(await env.stores.get('b2')!.get('archive/cluster.json'), 'archive');
  assert.equal(clusterJson.systemIdentifier, sysid);

  const status = env.walflow(['status', '--json']);
  assert.equal(status.status, 0, status.stderr);
  const s = JSON.parse(status.stdout) as StatusReport;
  assert.equal(s.spool.waiting, 0);
  assert.equal(s.stores.r2?.newestSegment, last);
  assert.equal(s.stores.b2?.newestSegment, last);
});
