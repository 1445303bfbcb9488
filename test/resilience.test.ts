// Faults from real components: a store down, the worker killed, Temporal stopped. Nothing is lost.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { StatusReport } from '../cli/commands/status';
import { archiveWorkflowId } from '../lib/contracts';
import { PgCluster } from '../lib/devstack/pgcluster';
import { catalogQuery } from './support/catalog';
import { TestEnv, waitFor } from './support/env';

let env: TestEnv;
let pg: PgCluster;

before(async () => {
  env = new TestEnv('resilience', { WALFLOW_ALERT_UPLOAD_FAILING_AFTER: '3s' });
  await env.startWorker();
  pg = await env.createCluster();
  await pg.query('CREATE TABLE t (id serial primary key, payload text)');
});

after(async () => {
  await env.stack.start('b2');
  await env.stack.start('temporal');
  await pg?.stop('immediate');
  await env?.close();
});

/** Writes rows and switches WAL `n` times; returns the names of the switched segments. */
async function makeSegments(n: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    await pg.query("INSERT INTO t (payload) SELECT repeat('x', 500) FROM generate_series(1, 2000)");
    names.push(await pg.switchWal());
  }
  return names;
}

const keyOf = (name: string) => `resilience/wal/00000001/${name}.zst`;

async function inStore(store: string, names: string[]): Promise<boolean> {
  const keys = new Set(await env.walKeys(store));
  return names.every((n) => keys.has(keyOf(n)));
}

async function openAlerts(kind: string) {
  return catalogQuery<{ key: string; resolved_at: Date | null }>(
    env.config.catalogUrl,
    'SELECT key, resolved_at FROM alerts WHERE cluster = $1 AND kind = $2 ORDER BY id',
    ['resilience', kind],
  );
}

test(
  'one store down: WAL waits in the spool, an alert is raised, everything arrives when it returns',
  { timeout: 240_000 },
  async () => {
    await env.stack.stop('b2');
    const names: string[] = [];
    try {
      // One at a time: each its own run, all of them left waiting for b2.
      for (let i = 0; i < 4; i++) {
        names.push(...(await makeSegments(1)));
        await waitFor('segment in r2', () => inStore('r2', names), 60_000);
      }
      assert.ok(
        names.every((n) => env.spoolFiles().includes(n)),
        'spool keeps the files while b2 is down',
      );
      await waitFor(
        'store-failing alert for b2',
        async () => (await openAlerts('store-failing')).some((a) => a.key === 'store-failing:b2' && !a.resolved_at),
        60_000,
      );
      // Runs that only wait for b2 hold nothing back: files that follow each start their own run at
      // once, rather than waiting to go together behind them.
      const next = await makeSegments(2);
      names.push(...next);
      await waitFor('later segments in r2', () => inStore('r2', next), 60_000);
      const client = await env.client();
      for (const n of next) {
        const run = await client.workflow.getHandle(archiveWorkflowId('resilience', n)).describe();
        assert.equal(run.type, 'archiveSegment', n);
      }
      const s = JSON.parse(env.walflow(['status', '--json']).stdout) as StatusReport;
      assert.ok(s.spool.waiting >= 6, `status shows the backlog: ${JSON.stringify(s.spool)}`);
      assert.ok(
        s.alerts.some((a) => a.kind === 'store-failing'),
        'status shows the alert',
      );
    } finally {
      await env.stack.start('b2');
    }
    await waitFor('segments in b2', () => inStore('b2', names), 120_000);
    await waitFor('empty spool', () => names.every((n) => !env.spoolFiles().includes(n)), 30_000);
    await waitFor(
      'alert resolved',
      async () => (await openAlerts('store-failing')).every((a) => a.resolved_at),
      30_000,
    );
    assert.equal(
      (await openAlerts('store-failing')).filter((a) => a.key === 'store-failing:b2').length,
      1,
      'raised once, not once per segment',
    );
  },
);

test(
  'worker killed during uploads and started again: every segment in both stores, recorded once',
  { timeout: 240_000 },
  async () => {
    await env.stack.stop('b2'); // holds uploads in flight so that the kill lands mid-archive
    let names: string[] = [];
    try {
      names = await makeSegments(4);
      await waitFor('segments in r2', () => inStore('r2', names), 60_000);
      env.killWorker();
    } finally {
      await env.stack.start('b2');
    }
    await env.startWorker();
    await waitFor('segments in b2 after restart', () => inStore('b2', names), 150_000);
    await waitFor('empty spool', () => names.every((n) => !env.spoolFiles().includes(n)), 30_000);
    const rows = await catalogQuery<{ name: string; copies: number; files: number }>(
      env.config.catalogUrl,
      `SELECT f.name, (SELECT count(*)::int FROM wal_copies c WHERE c.cluster = f.cluster AND c.name = f.name) AS copies,
            (SELECT count(*)::int FROM wal_files g WHERE g.cluster = f.cluster AND g.name = f.name) AS files
       FROM wal_files f WHERE f.cluster = 'resilience' AND f.name = ANY($1)`,
      [names],
    );
    assert.equal(rows.length, names.length);
    for (const r of rows) assert.deepEqual([r.files, r.copies], [1, 2], r.name);
  },
);

test(
  'Temporal stopped: push keeps succeeding, archiving catches up when it returns',
  { timeout: 240_000 },
  async () => {
    const [before] = await pg.query<{ failed: string }>('SELECT failed_count::text AS failed FROM pg_stat_archiver');
    await env.stack.stop('temporal');
    let names: string[] = [];
    try {
      names = await makeSegments(3);
      // PostgreSQL's archiver hands every segment over successfully: push needs no Temporal.
      await waitFor('segments in the spool', () => names.every((n) => env.spoolFiles().includes(n)), 30_000);
      const [now] = await pg.query<{ failed: string; last: string }>(
        'SELECT failed_count::text AS failed, last_archived_wal AS last FROM pg_stat_archiver',
      );
      assert.equal(now.failed, before.failed, 'no archive_command failures while Temporal is down');
      assert.equal(await inStore('b2', names), false);
    } finally {
      await env.stack.start('temporal');
    }
    await waitFor(
      'segments in both stores after Temporal returns',
      async () => (await inStore('r2', names)) && (await inStore('b2', names)),
      150_000,
    );
    await waitFor('empty spool', () => names.every((n) => !env.spoolFiles().includes(n)), 30_000);
  },
);
