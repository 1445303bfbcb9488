// verify finds a copy deleted in one store and one corrupted in the other, repairs both from
// the healthy store, leaves copies that disagree alone when no catalog record decides, and
// reports what no store can mend as lost, a gap and an alert.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { codecByName } from '../lib/codec';
import { PgCluster } from '../lib/devstack/pgcluster';
import type { VerifyReport } from '../lib/contracts';
import { catalogQuery } from './support/catalog';
import { TestEnv, waitFor } from './support/env';

let env: TestEnv;
let pg: PgCluster;
const names: string[] = [];
const key = (n: string) => `verify/wal/00000001/${n}.zst`;

before(async () => {
  env = new TestEnv('verify');
  await env.startWorker();
  pg = await env.createCluster();
  await pg.query('CREATE TABLE t (id int)');
  for (let i = 0; i < 4; i++) {
    await pg.query('INSERT INTO t SELECT generate_series(1, 20000)');
    names.push(await pg.switchWal());
  }
  await waitFor(
    'segments archived',
    async () => {
      const keys = new Set(await env.walKeys('b2'));
      return names.every((n) => keys.has(key(n))) && env.spoolFiles().length === 0;
    },
    90_000,
  );
});

after(async () => {
  await pg?.stop('immediate');
  await env?.close();
});

function runVerify(deep: boolean): { status: number; report: VerifyReport } {
  const r = env.walflow(['verify', '--json', ...(deep ? ['--deep'] : [])]);
  assert.ok(r.stdout.trim().startsWith('{'), r.stderr);
  return { status: r.status, report: JSON.parse(r.stdout) as VerifyReport };
}

test(
  'a deleted copy and a silently corrupted copy are found and repaired from the other store',
  { timeout: 180_000 },
  async () => {
    await env.stores.get('b2')!.delete(key(names[1]));
    // Same size, metadata intact: only a deep verify, which hashes the content, can see this.
    const file = path.join(env.stack.s3Dir('r2'), 'data', 'walflow', 'walflow', key(names[2]));
    const original = fs.readFileSync(file);
    fs.writeFileSync(file, Buffer.alloc(original.length, 0x5a));

    const shallow = runVerify(false);
    assert.equal(shallow.status, 0);
    assert.deepEqual(
      shallow.report.repaired.map((r) => [r.store, r.key, r.problem]),
      [['b2', key(names[1]), 'missing']],
    );
    assert.deepEqual(await env.stores.get('b2')!.get(key(names[1])), await env.stores.get('r2')!.get(key(names[1])));

    const deep = runVerify(true);
    assert.equal(deep.status, 0);
    assert.deepEqual(
      deep.report.repaired.map((r) => [r.store, r.key]),
      [['r2', key(names[2])]],
    );
    assert.deepEqual(fs.readFileSync(file), original, 'the repaired copy holds the original bytes');

    const clean = runVerify(true);
    assert.equal(clean.status, 0);
    assert.deepEqual(clean.report.problems, []);
    assert.deepEqual(clean.report.gaps, []);
  },
);

test(
  'copies that differ with no catalog record are left alone and raise content-conflict; a record decides',
  { timeout: 180_000 },
  async () => {
    const name = names[3];
    const [r2, b2] = ['r2', 'b2'].map((s) => env.stores.get(s)!);
    const original = await r2.get(key(name));
    // Another writer's bytes under the same name in b2, with metadata true to them.
    const raw = Buffer.alloc(16 * 1024 * 1024, 7);
    const zstd = codecByName('zstd');
    const other = await zstd.compress(raw);
    await b2.delete(key(name));
    await b2.putNew(key(name), other, {
      codec: 'zstd',
      rawSize: raw.length,
      sha256: createHash('sha256').update(raw).digest('hex'),
    });
    const [row] = await catalogQuery<Record<string, unknown>>(
      env.config.catalogUrl,
      "SELECT * FROM wal_files WHERE cluster = 'verify' AND name = $1",
      [name],
    );
    assert.ok(row, 'the catalog recorded the segment');
    await catalogQuery(env.config.catalogUrl, "DELETE FROM wal_files WHERE cluster = 'verify' AND name = $1", [name]);

    const r = runVerify(false);
    assert.equal(r.status, 1, 'a conflict fails verify');
    assert.deepEqual(r.report.repaired, [], 'nothing is repaired');
    assert.deepEqual(
      r.report.conflicts.map((c) => [c.key, Object.keys(c.copies).sort()]),
      [[key(name), ['b2', 'r2']]],
    );
    assert.deepEqual(await r2.get(key(name)), original, 'r2 keeps its copy');
    assert.deepEqual(await b2.get(key(name)), other, 'b2 keeps its copy');
    const alerts = JSON.parse(env.walflow(['alerts', '--json']).stdout) as { kind: string; key: string }[];
    assert.ok(
      alerts.some((a) => a.kind === 'content-conflict' && a.key === `content-conflict:${name}`),
      JSON.stringify(alerts),
    );

    // With the catalog's record back, the copy that matches it wins.
    const columns = Object.keys(row);
    await catalogQuery(
      env.config.catalogUrl,
      `INSERT INTO wal_files (${columns.map((c) => `"${c}"`).join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
      columns.map((c) => row[c]),
    );
    const decided = runVerify(false);
    assert.equal(decided.status, 0);
    assert.deepEqual(decided.report.conflicts, []);
    assert.deepEqual(
      decided.report.repaired.map((x) => [x.store, x.key]),
      [['b2', key(name)]],
    );
    assert.deepEqual(await b2.get(key(name)), original, 'b2 now holds the recorded content');
  },
);

test(
  'a segment lost from every store is reported as lost and as a gap, with alerts',
  { timeout: 120_000 },
  async () => {
    for (const s of ['r2', 'b2']) await env.stores.get(s)!.delete(key(names[1]));
    const r = runVerify(false);
    assert.equal(r.status, 1);
    assert.deepEqual(r.report.unrepairable, [key(names[1])]);
    assert.deepEqual(r.report.gaps, [{ timeline: 1, from: names[1], to: names[1] }]);
    const alerts = JSON.parse(env.walflow(['alerts', '--json']).stdout) as { kind: string }[];
    assert.ok(alerts.some((a) => a.kind === 'verify-failure'));
    assert.ok(alerts.some((a) => a.kind === 'archive-gap'));
  },
);
