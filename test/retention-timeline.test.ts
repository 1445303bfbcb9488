// Retention along timelines: after a point-in-time restore promoted as the new production
// (timeline 2), the newest backup can start at a lower segment number than an older kept
// backup on timeline 1. Pruning must keep what each kept backup needs on its own path, so
// that each store alone still restores both.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { PgCluster } from '../lib/devstack/pgcluster';
import { chownToPostgres, freePort, sleep } from '../lib/devstack/procs';
import { parseWalName } from '../lib/wal/name';
import type { BackupManifest, RetentionListing } from '../lib/contracts';
import { TestEnv, waitFor } from './support/env';
import { pitrEnv, restoredCluster, runRestore, takeBackup, waitArchived } from './support/pitr';

const DAY = 86_400_000;
let env: TestEnv;
let primary: PgCluster;
let production: PgCluster | undefined;
let b0: BackupManifest;
let b1: BackupManifest;
let b2: BackupManifest;
let rowsTl1: Record<string, number>;
let rowsTl2: Record<string, number>;

async function batches(pg: PgCluster): Promise<Record<string, number>> {
  const rows = await pg.query<{ batch: string; n: number }>(
    'SELECT batch, count(*)::int AS n FROM t GROUP BY batch ORDER BY batch',
  );
  return Object.fromEntries(rows.map((r) => [r.batch, r.n]));
}

function prune(args: string[]): RetentionListing {
  const r = env.walflow(['prune', '--json', ...args]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as RetentionListing;
}

/** Restores a backup into a fresh folder, starts it, returns its rows per batch, stops it. */
async function restoredRows(label: string, args: string[]): Promise<Record<string, number>> {
  const dir = path.join(env.dir, 'check', label);
  fs.mkdirSync(dir, { recursive: true });
  chownToPostgres(path.dirname(dir), dir);
  const port = await freePort();
  const r = runRestore(env, [...args, '--pgdata', path.join(dir, 'data'), '--start', '--port', String(port)]);
  assert.equal(r.status, 0, `${label}: ${r.stderr}\n${r.stdout}`);
  const restored = restoredCluster(env, path.join(dir, 'data'), port);
  try {
    return await batches(restored);
  } finally {
    await restored.stop('immediate');
  }
}

before(async () => {
  ({ env, pg: primary } = await pitrEnv('retention-tl', { WALFLOW_RETENTION_MIN_BACKUPS: '2' }));
  await primary.query('CREATE TABLE t (id serial PRIMARY KEY, batch text NOT NULL)');
  await primary.query("INSERT INTO t (batch) SELECT 'b0' FROM generate_series(1, 1000)");
  b0 = await takeBackup(env);
  await primary.query("INSERT INTO t (batch) SELECT 'good' FROM generate_series(1, 1000)");
  await sleep(1500);
  const beforeMistake = new Date().toISOString();
  await sleep(1500);
  await primary.query("INSERT INTO t (batch) SELECT 'mistake' FROM generate_series(1, 1000)");
  // Enough WAL on timeline 1 that B1 starts past where timeline 2 will be when B2 is taken.
  for (let i = 0; i < 6; i++) {
    await primary.query("INSERT INTO t (batch) SELECT 'tl1-load' FROM generate_series(1, 20000)");
    await primary.switchWal();
  }
  b1 = await takeBackup(env);
  await primary.query("INSERT INTO t (batch) SELECT 'tl1-end' FROM generate_series(1, 1000)");
  rowsTl1 = await batches(primary);
  await waitArchived(env, await primary.switchWal());
  await primary.stop('fast');

  // The point-in-time restore that undoes the mistake becomes production: same port (the
  // worker backs it up there), archiving into the same cluster, on timeline 2.
  const data = path.join(env.dir, 'tl2', 'data');
  fs.mkdirSync(path.dirname(data), { recursive: true });
  chownToPostgres(path.dirname(data));
  const r = runRestore(env, [
    '--backup',
    b0.backupId,
    '--target-time',
    beforeMistake,
    '--pgdata',
    data,
    '--start',
    '--port',
    String(primary.port),
    '--archive',
  ]);
  assert.equal(r.status, 0, `restore of B0 as production: ${r.stderr}\n${r.stdout}`);
  production = restoredCluster(env, data, primary.port);
  assert.deepEqual(await batches(production), { b0: 1000, good: 1000 });

  await production.query("INSERT INTO t (batch) SELECT 'tl2' FROM generate_series(1, 1000)");
  b2 = await takeBackup(env);
  assert.equal(b2.timeline, 2);
  await production.query("INSERT INTO t (batch) SELECT 'tl2-end' FROM generate_series(1, 1000)");
  rowsTl2 = await batches(production);
  await waitArchived(env, await production.switchWal());
  await waitFor(
    'timeline 2 history in both stores',
    async () =>
      (await Promise.all([...env.stores.values()].map((s) => s.head('retention-tl/wal/00000002.history')))).every(
        Boolean,
      ),
    60_000,
  );
});

after(async () => {
  await production?.stop('immediate').catch(() => undefined);
  await primary?.stop('immediate').catch(() => undefined);
  await env?.close();
});

test(
  "pruning keeps each kept backup's WAL along its timeline; each store alone restores B1 and B2",
  { timeout: 900_000 },
  async () => {
    const segno = (m: BackupManifest) => parseWalName(m.startWal, m.segmentSize)!.segno!;
    assert.ok(segno(b2) < segno(b1), `the scenario needs B2 (${b2.startWal}) to start below B1 (${b1.startWal})`);
    const asOf = new Date(Date.now() + 400 * DAY).toISOString();

    const dry = prune(['--dry-run', '--as-of', asOf]);
    const real = prune(['--as-of', asOf]);
    for (const s of real.stores) {
      assert.deepEqual(s.kept, [b2.backupId, b1.backupId], `${s.store} keeps the newest two backups`);
      const planned = dry.stores.find((d) => d.store === s.store)!;
      assert.deepEqual(
        s.deletions.map((d) => d.key).sort(),
        planned.deletions.map((d) => d.key).sort(),
        'dry run and real run agree',
      );
      assert.ok(
        s.deletions.some((d) => d.key === `retention-tl/backups/${b0.backupId}/manifest.json`),
        `${s.store} deletes B0`,
      );
      assert.ok(
        s.deletions.some((d) => d.key.includes('/wal/00000001/')),
        `${s.store} deletes timeline 1 WAL older than every kept backup`,
      );
    }

    for (const alone of ['r2', 'b2'] as const) {
      const other = alone === 'r2' ? 'b2' : 'r2';
      await env.stack.stop(other);
      try {
        assert.deepEqual(
          await restoredRows(`${alone}-b2`, ['--stores', alone, '--backup', b2.backupId]),
          rowsTl2,
          `${alone} alone: B2 restores to the end of timeline 2`,
        );
        assert.deepEqual(
          await restoredRows(`${alone}-b1`, ['--stores', alone, '--backup', b1.backupId, '--timeline', '1']),
          rowsTl1,
          `${alone} alone: B1 restores to the end of timeline 1`,
        );
      } finally {
        await env.stack.start(other);
      }
    }

    // The dry run says why each range of WAL stays.
    for (const s of dry.stores) {
      const ranges = s.keptWal;
      assert.ok(
        ranges.some(
          (k) => k.timeline === 2 && k.from === b2.startWal && k.reason.includes(`backup ${b2.backupId} on timeline 2`),
        ),
        `${s.store}: ${JSON.stringify(ranges)}`,
      );
      assert.ok(
        ranges.some(
          (k) => k.timeline === 1 && k.from === b1.startWal && k.reason.includes(`backup ${b1.backupId} on timeline 1`),
        ),
        `${s.store}: ${JSON.stringify(ranges)}`,
      );
    }
  },
);
