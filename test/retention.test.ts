// Retention decides from backups: it keeps the WAL the oldest kept backup needs, deletes what is
// older (and the backups past retention), keeps history files, and its dry run lists exactly
// what the real run deletes. Time moves by --as-of, not by sleeping.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { PgCluster } from '../lib/devstack/pgcluster';
import { chownToPostgres } from '../lib/devstack/procs';
import { parseWalName } from '../lib/wal/name';
import type { BackupManifest, RetentionListing, VerifyReport } from '../lib/contracts';
import { catalogQuery } from './support/catalog';
import { TestEnv, waitFor } from './support/env';
import { pitrEnv, restoreAndStart, rowsInT, takeBackup, waitArchived } from './support/pitr';

let env: TestEnv;
let pg: PgCluster;
let b1: BackupManifest;
let b2: BackupManifest;
let rowsAtB2: number;
const DAY = 86_400_000;

async function load(rows: number): Promise<string> {
  await pg.query(`INSERT INTO t SELECT generate_series(1, ${rows})`);
  return pg.switchWal();
}

async function keys(store: string): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const o of env.stores.get(store)!.list('retention/')) out.add(o.key);
  return out;
}

function prune(args: string[]): RetentionListing {
  const r = env.walflow(['prune', '--json', ...args]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as RetentionListing;
}

before(async () => {
  ({ env, pg } = await pitrEnv('retention', { WALFLOW_STORE_B2_RETENTION_DAYS: '7' }));
  await pg.query('CREATE TABLE t (id int)');
  await load(50000);
  // A timeline history file: retention must never delete one, however old.
  const history = path.join(env.dir, '00000002.history');
  fs.writeFileSync(history, '1\t0/3000000\tno recovery target specified\n');
  chownToPostgres(history);
  assert.equal(env.walflow(['push', history, '00000002.history']).status, 0);
  b1 = await takeBackup(env);
  await load(50000);
  await load(50000);
  b2 = await takeBackup(env);
  rowsAtB2 = await rowsInT(pg);
  await waitArchived(env, await load(50000));
  await waitFor('history archived', async () => (await keys('b2')).has('retention/wal/00000002.history'), 60_000);
});

after(async () => {
  await pg?.stop('immediate');
  await env?.close();
});

test(
  'dry run and real run agree; WAL before the oldest kept backup goes, history stays',
  { timeout: 240_000 },
  async () => {
    assert.notEqual(b1.backupId, b2.backupId);
    const asOf = new Date(Date.parse(b2.stopTime) + 10 * DAY).toISOString();
    // The oldest segment left the spool with its b2 copy owed (b2 was down), and no copy was made
    // before retention deleted it from r2, its only store: nothing is owed for it any more.
    const oldestKey = [...(await keys('r2'))].filter((k) => k.includes('/wal/00000001/')).sort()[0];
    const oldest = path.basename(oldestKey).replace(/\.zst$/, '');
    await env.stores.get('b2')!.delete(oldestKey);
    await catalogQuery(
      env.config.catalogUrl,
      "DELETE FROM wal_copies WHERE cluster = 'retention' AND name = $1 AND store = 'b2'",
      [oldest],
    );
    await catalogQuery(
      env.config.catalogUrl,
      "INSERT INTO owed_copies (cluster, name, store, key) VALUES ('retention', $1, 'b2', $2)",
      [oldest, oldestKey],
    );
    const beforeR2 = await keys('r2');
    const beforeB2 = await keys('b2');

    const dry = prune(['--dry-run', '--as-of', asOf]);
    const r2Plan = dry.stores.find((s) => s.store === 'r2')!;
    const b2Plan = dry.stores.find((s) => s.store === 'b2')!;
    assert.deepEqual(r2Plan.kept, [b2.backupId, b1.backupId], 'r2 keeps 30 days: both backups');
    const r2From = parseWalName(b1.startWal, b1.segmentSize)!.segno!;
    for (const d of r2Plan.deletions) {
      assert.match(d.key, /\/wal\/00000001\//, `r2 deletes only WAL: ${d.key}`);
      assert.ok(
        parseWalName(path.basename(d.key).replace(/\.zst$/, ''), b1.segmentSize)!.segno! < r2From,
        `${d.key} is older than ${b1.startWal}`,
      );
    }
    assert.deepEqual(b2Plan.kept, [b2.backupId], 'b2 keeps 7 days: only the newest backup');
    const planned = b2Plan.deletions.map((d) => d.key).sort();
    assert.ok(planned.includes(`retention/backups/${b1.backupId}/manifest.json`));
    const order = b2Plan.deletions.map((d) => d.key).filter((k) => k.startsWith(`retention/backups/${b1.backupId}/`));
    assert.ok(
      order.length >= 2 && order[0].endsWith('/manifest.json'),
      `a backup loses its manifest before its data: ${order.join(', ')}`,
    );
    const keepFrom = parseWalName(b2.startWal, b2.segmentSize)!.segno!;
    const walDeleted = planned.filter((k) => k.includes('/wal/'));
    assert.ok(walDeleted.length >= 2, `old WAL planned for deletion: ${walDeleted.join(', ')}`);
    for (const k of walDeleted) {
      const name = path.basename(k).replace(/\.zst$/, '');
      assert.ok(parseWalName(name, b2.segmentSize)!.segno! < keepFrom, `${k} is older than ${b2.startWal}`);
    }
    assert.deepEqual(await keys('b2'), beforeB2, 'a dry run deletes nothing');

    const real = prune(['--as-of', asOf]);
    const afterB2 = await keys('b2');
    const removed = [...beforeB2].filter((k) => !afterB2.has(k)).sort();
    assert.deepEqual(removed, planned, 'the real run deleted exactly what the dry run listed');
    assert.equal(real.deleted, planned.length + r2Plan.deletions.length);
    const afterR2 = await keys('r2');
    assert.deepEqual([...beforeR2].filter((k) => !afterR2.has(k)).sort(), r2Plan.deletions.map((d) => d.key).sort());
    for (const b of [b1, b2])
      assert.ok(afterR2.has(`retention/backups/${b.backupId}/manifest.json`), `r2 keeps ${b.backupId}`);
    assert.ok(afterB2.has('retention/wal/00000002.history'), 'history files are kept');
    // Everything from the kept backup's start onwards is still there.
    for (const k of beforeB2) {
      const name = path.basename(k).replace(/\.zst$/, '');
      const wal = parseWalName(name, b2.segmentSize);
      if (k.includes('/wal/') && wal?.segno !== undefined && wal.segno >= keepFrom)
        assert.ok(afterB2.has(k), `${k} kept`);
    }
    assert.equal(prune(['--as-of', asOf]).deleted, 0, 'a second run finds nothing more to delete');
    assert.ok(!afterR2.has(oldestKey), `${oldestKey} pruned from r2`);
    assert.deepEqual(
      await catalogQuery(env.config.catalogUrl, "SELECT name FROM owed_copies WHERE cluster = 'retention'"),
      [],
      'a copy owed of WAL that retention deleted everywhere is owed no more',
    );
    // The pruned store alone restores the oldest kept backup's earliest point.
    await env.stack.stop('r2');
    try {
      // --timeline 1: the history file pushed above names a timeline 2 that has no WAL.
      const res = await restoreAndStart(env, path.join(env.dir, 'restored'), [
        '--immediate',
        '--timeline',
        '1',
        '--stores',
        'b2',
        '--backup',
        b2.backupId,
      ]);
      assert.equal(res.status, 0, res.stderr);
      try {
        assert.equal(
          await rowsInT(res.cluster),
          rowsAtB2,
          'the restored cluster holds exactly what the kept backup held',
        );
      } finally {
        await res.cluster.stop('immediate');
      }
    } finally {
      await env.stack.start('r2');
    }
    const listed = JSON.parse(env.walflow(['backups', '--json']).stdout) as {
      backupId: string;
      status: string;
      stores: string[];
    }[];
    const first = listed.find((b) => b.backupId === b1.backupId)!;
    assert.deepEqual(
      [first.status, first.stores],
      ['complete', ['r2']],
      'the catalog says where the old backup still is',
    );
  },
);

test(
  "verify after pruning: WAL that b2's 7-day retention removed is pruned there, not missing, and not copied back",
  { timeout: 120_000 },
  async () => {
    const walOf = async (store: string) =>
      new Set([...(await keys(store))].filter((k) => k.startsWith('retention/wal/')));
    const [r2, b2] = [await walOf('r2'), await walOf('b2')];
    const onlyInR2 = [...r2].filter((k) => !b2.has(k));
    assert.ok(onlyInR2.length >= 2, `r2 holds WAL that b2 pruned: ${onlyInR2.join(', ')}`);
    const r = env.walflow(['verify', '--json']);
    assert.ok(r.stdout.trim().startsWith('{'), r.stderr);
    const report = JSON.parse(r.stdout) as VerifyReport;
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(report.repaired, [], 'nothing copied into b2');
    assert.deepEqual(report.problems, []);
    assert.deepEqual(report.gaps, []);
    assert.deepEqual(
      report.pruned.map((p) => [p.store, p.files]),
      [['b2', onlyInR2.length]],
    );
    assert.deepEqual(await walOf('b2'), b2, 'b2 holds what it held');
  },
);

test(
  'retention with no complete backup deletes nothing and raises retention-blocked',
  { timeout: 120_000 },
  async () => {
    const other = new TestEnv('retention-nobackup', {});
    try {
      await other.startWorker();
      const r = other.walflow(['prune', '--json', '--as-of', new Date(Date.now() + 400 * DAY).toISOString()]);
      assert.equal(r.status, 0, r.stderr);
      const plan = JSON.parse(r.stdout) as RetentionListing;
      for (const s of plan.stores) {
        assert.match(s.blocked ?? '', /no complete backup/);
        assert.deepEqual(s.deletions, []);
      }
      const alerts = JSON.parse(other.walflow(['alerts', '--json']).stdout) as { kind: string }[];
      assert.ok(alerts.some((a) => a.kind === 'retention-blocked'));
    } finally {
      await other.close();
    }
  },
);
