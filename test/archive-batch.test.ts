// A backlog in the spool goes in batches (archiveBatch), a worker killed mid-batch loses
// nothing and records nothing twice; a file alone still goes by itself, at once.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { PgCluster } from '../lib/devstack/pgcluster';
import { archiveWorkflowId } from '../lib/contracts';
import { catalogQuery } from './support/catalog';
import { TestEnv, waitFor } from './support/env';

const CLUSTER = 'archive-batch';
/** More than one batch holds (ARCHIVE_BATCH_MAX). */
const BACKLOG = 18;
let env: TestEnv;
let pg: PgCluster;

before(async () => {
  env = new TestEnv(CLUSTER);
  pg = await env.createCluster();
  await pg.query('CREATE TABLE t (id serial primary key, payload text)');
});

after(async () => {
  await env.stack.start('b2');
  await pg?.stop('immediate');
  await env?.deleteSchedules().catch(() => undefined);
  await env?.close();
});

const isWal = (n: string) => /^[0-9A-F]{24}$/.test(n);

async function inStore(store: string, names: string[]): Promise<boolean> {
  const keys = new Set(await env.walKeys(store));
  return names.every((n) => keys.has(`${CLUSTER}/wal/00000001/${n}.zst`));
}

test(
  'a backlog goes in batches; a worker killed mid-batch loses nothing and copies nothing twice',
  { timeout: 300_000 },
  async () => {
    // The backlog piles up while no worker runs, as after a worker or Temporal outage.
    for (let i = 0; i < BACKLOG; i++) {
      await pg.query("INSERT INTO t (payload) SELECT repeat('x', 200) FROM generate_series(1, 500)");
      await pg.switchWal();
    }
    const names = (await waitFor(
      'the backlog in the spool',
      () => {
        const files = env.spoolFiles().filter(isWal);
        return files.length >= BACKLOG ? files : undefined;
      },
      60_000,
    ))!;
    const client = await env.client();
    await env.stack.stop('b2'); // holds every batch in its upload to b2, so that the kill lands mid-batch
    try {
      await env.startWorker();
      await waitFor('the backlog in r2', () => inStore('r2', names), 120_000);
      const inBatches = new Map<string, string>();
      for await (const w of client.workflow.list({
        query: `WorkflowType = 'archiveBatch' AND WalflowCluster = '${CLUSTER}' AND ExecutionStatus = 'Running'`,
      })) {
        const files = (w.memo as { files?: Record<string, string> } | undefined)?.files ?? {};
        for (const n of Object.keys(files)) inBatches.set(n, w.workflowId);
      }
      assert.deepEqual(
        names.filter((n) => !inBatches.has(n)),
        [],
        `every file of the backlog is listed by a running batch: ${JSON.stringify([...inBatches])}`,
      );
      assert.ok(new Set(inBatches.values()).size >= 2, 'more files than one batch takes: two batches at least');
      assert.ok(
        names.every((n) => env.spoolFiles().includes(n)),
        'the spool keeps every file while b2 lacks it',
      );
      env.killWorker();
    } finally {
      await env.stack.start('b2');
    }
    await env.startWorker();
    await waitFor('the backlog in b2 after the restart', () => inStore('b2', names), 150_000);
    await waitFor('an empty spool', () => names.every((n) => !env.spoolFiles().includes(n)), 30_000);
    assert.deepEqual(fs.readdirSync(path.join(env.spoolDir, 'staged')), [], 'no staged copy left behind');
    const rows = await catalogQuery<{ name: string; copies: number; files: number }>(
      env.config.catalogUrl,
      `SELECT f.name, (SELECT count(*)::int FROM wal_copies c WHERE c.cluster = f.cluster AND c.name = f.name) AS copies,
            (SELECT count(*)::int FROM wal_files g WHERE g.cluster = f.cluster AND g.name = f.name) AS files
       FROM wal_files f WHERE f.cluster = $1 AND f.name = ANY($2)`,
      [CLUSTER, names],
    );
    assert.equal(rows.length, names.length, 'every file in the catalog');
    for (const r of rows) assert.deepEqual([r.files, r.copies], [1, 2], `${r.name}: one record, one copy per store`);
  },
);

test('a file alone goes by itself, as archiveSegment', { timeout: 120_000 }, async () => {
  await pg.query("INSERT INTO t (payload) VALUES ('one')");
  const name = await pg.switchWal();
  const handle = (await env.client()).workflow.getHandle(archiveWorkflowId(CLUSTER, name));
  await waitFor(
    'its archiveSegment',
    () =>
      handle.describe().then(
        () => true,
        () => false,
      ),
    30_000,
  );
  const result = (await handle.result()) as { status: string };
  assert.equal(result.status, 'archived');
  assert.ok(await inStore('b2', [name]));
});
