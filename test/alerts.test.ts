// An alert is raised once, stays open while its condition lasts, resolves when it clears,
// and reaches a webhook receiver (run here) both times, even if the receiver was down at first.
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { after, before, test } from 'node:test';
import { PgCluster } from '../lib/devstack/pgcluster';
import { freePort } from '../lib/devstack/procs';
import { TestEnv, waitFor } from './support/env';

interface Received {
  event: string;
  key: string;
  kind: string;
  occurrences: number;
}

let env: TestEnv;
let pg: PgCluster;
let server: http.Server;
const received: Received[] = [];
let accepting = false;

before(async () => {
  const port = await freePort();
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      if (!accepting) {
        res.writeHead(503).end();
        return;
      }
      received.push(JSON.parse(body) as Received);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  env = new TestEnv('alerts', {
    WALFLOW_ALERT_UPLOAD_FAILING_AFTER: '2s',
    WALFLOW_ALERT_BACKUP_AGE: '1s',
    WALFLOW_ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`,
    WALFLOW_CHECK_EVERY: '2s',
  });
  await env.startWorker();
  const applied = env.walflow(['schedules', 'apply']);
  assert.equal(applied.status, 0, applied.stderr);
  pg = await env.createCluster();
});

after(async () => {
  await env.stack.start('r2');
  await env.deleteSchedules(); // the checks Schedule fires every few seconds
  await pg?.stop('immediate');
  await env?.close();
  server?.close();
});

function alertsJson(all = false) {
  const r = env.walflow(['alerts', '--json', ...(all ? ['--all'] : [])]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { key: string; resolvedAt: string | null; occurrences: number; delivered: boolean }[];
}

test(
  'raised once while a store is down, resolved when it returns, delivered to the webhook',
  { timeout: 240_000 },
  async () => {
    await env.stack.stop('r2');
    try {
      await pg.query('CREATE TABLE t AS SELECT generate_series(1, 20000) AS id');
      await pg.switchWal();
      await pg.query('INSERT INTO t SELECT generate_series(1, 20000)');
      await pg.switchWal();
      await waitFor('store-failing alert', () => alertsJson().some((a) => a.key === 'store-failing:r2'), 60_000);
      await new Promise((r) => setTimeout(r, 3000)); // both segments' uploads are now past the threshold
      const open = alertsJson().filter((a) => a.key === 'store-failing:r2');
      assert.equal(open.length, 1, 'one open alert for the condition, however many segments wait');
      assert.equal(open[0].delivered, false, 'the receiver refused it so far');
      accepting = true; // the next checks run delivers it
      await waitFor(
        'raised delivered',
        () => received.some((x) => x.event === 'raised' && x.key === 'store-failing:r2'),
        60_000,
      );
    } finally {
      await env.stack.start('r2');
    }
    await waitFor('alert resolved', () => alertsJson().every((a) => a.key !== 'store-failing:r2'), 120_000);
    await waitFor(
      'resolution delivered',
      () => received.some((x) => x.event === 'resolved' && x.key === 'store-failing:r2'),
      60_000,
    );
    const history = alertsJson(true).filter((a) => a.key === 'store-failing:r2');
    assert.equal(history.length, 1);
    assert.ok(history[0].resolvedAt);
    assert.equal(
      received.filter((x) => x.key === 'store-failing:r2' && x.event === 'raised').length,
      1,
      'raised delivered once',
    );
    assert.equal(
      received.filter((x) => x.key === 'store-failing:r2' && x.event === 'resolved').length,
      1,
      'resolved delivered once',
    );
  },
);

test(
  'WAL archived but no complete backup within the expected interval: backup-missing',
  { timeout: 120_000 },
  async () => {
    assert.equal(env.walflow(['archive', '--wait']).status, 0);
    await waitFor('backup-missing alert', () => alertsJson().some((a) => a.key === 'backup-missing'), 60_000);
    await waitFor('delivered', () => received.some((x) => x.event === 'raised' && x.kind === 'backup-missing'), 60_000);
  },
);
