// The periodic checks run on their own Schedule on the shared queue, so the failures that the
// database host's own worker cannot report still reach the webhook receiver run here: a failing
// archive_command, a catalog that is down when an alert is due, WAL that never reaches the
// stores, and a host whose worker died (noticed by a second worker that serves only shared work).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { createArchivingCluster, PgCluster } from '../lib/devstack/pgcluster';
import { freePort } from '../lib/devstack/procs';
import { hostQueue } from '../lib/contracts';
import { TestEnv, waitFor } from './support/env';

interface Received {
  event: string;
  key: string;
  kind: string;
}

const CLUSTER = 'checks';
let env: TestEnv;
let shared: TestEnv;
let pg: PgCluster;
let server: http.Server;
let archiveCommand: string;
const received: Received[] = [];

before(async () => {
  const hookPort = await freePort();
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push(JSON.parse(body) as Received);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(hookPort, '127.0.0.1', r));
  const pgPort = await freePort();
  const common = {
    WALFLOW_CLUSTER: CLUSTER,
    WALFLOW_ALERT_WEBHOOK_URL: `http://127.0.0.1:${hookPort}/hook`,
    WALFLOW_CHECK_EVERY: '3s',
    WALFLOW_ALERT_HOST_SILENT: '20s',
    WALFLOW_ALERT_ARCHIVE_STALE: '10s',
  };
  env = new TestEnv(CLUSTER, { ...common, WALFLOW_PG_URL: `postgres://postgres@127.0.0.1:${pgPort}/postgres` });
  shared = new TestEnv('checks-shared', common);
  pg = await createArchivingCluster({ dir: path.join(env.dir, 'pg'), port: pgPort, envFile: env.envFile });
  [{ archive_command: archiveCommand }] = await pg.query<{ archive_command: string }>('SHOW archive_command');
  await Promise.all([env.startWorker(), shared.startWorker()]);
  const applied = env.walflow(['schedules', 'apply']);
  assert.equal(applied.status, 0, applied.stderr);
});

after(async () => {
  await env.stack.start('catalog');
  await env.stack.start('r2');
  await env.deleteSchedules(); // the checks Schedule fires every few seconds
  await pg?.stop('immediate');
  await shared?.close();
  await env?.close();
  server?.close();
});

function alertsJson(all = false) {
  const r = env.walflow(['alerts', '--json', ...(all ? ['--all'] : [])]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { key: string; kind: string; resolvedAt: string | null; delivered: boolean }[];
}

const got = (from: number, event: string, key: string) =>
  received.slice(from).filter((x) => x.event === event && x.key === key).length;

async function setArchiveCommand(command: string): Promise<void> {
  await pg.query(`ALTER SYSTEM SET archive_command = '${command.replace(/'/g, "''")}'`);
  await pg.query('SELECT pg_reload_conf()');
}

async function makeWal(): Promise<void> {
  await pg.query('CREATE TABLE IF NOT EXISTS t (id int)');
  await pg.query('INSERT INTO t SELECT generate_series(1, 1000)');
  await pg.switchWal();
}

const failingKey = `archive-command-failing:${CLUSTER}`;

test(
  'archive_command fails: archive-command-failing, resolved when it archives again',
  { timeout: 180_000 },
  async () => {
    const mark = received.length;
    await setArchiveCommand('false');
    await makeWal();
    await waitFor('archive-command-failing at the webhook', () => got(mark, 'raised', failingKey), 60_000);
    assert.ok(alertsJson().some((a) => a.key === failingKey && a.kind === 'archive-command-failing'));
    await setArchiveCommand(archiveCommand);
    await waitFor('resolution at the webhook', () => got(mark, 'resolved', failingKey), 90_000);
    assert.equal(got(mark, 'raised', failingKey), 1, 'raised once while it lasted');
  },
);

test(
  'catalog down when an alert is due: the webhook gets it, the catalog records it once back',
  { timeout: 240_000 },
  async () => {
    const mark = received.length;
    await env.stack.stop('catalog');
    try {
      await setArchiveCommand('false');
      await makeWal();
      await waitFor(
        'archive-command-failing at the webhook without a catalog',
        () => got(mark, 'raised', failingKey),
        60_000,
      );
    } finally {
      await env.stack.start('catalog');
    }
    await waitFor(
      'the alert recorded once the catalog is back',
      () => alertsJson().some((a) => a.key === failingKey && a.delivered),
      90_000,
    );
    await new Promise((r) => setTimeout(r, 6_000)); // a few more check runs
    assert.equal(got(mark, 'raised', failingKey), 1, 'announced once; recording it later did not post it again');
    await setArchiveCommand(archiveCommand);
    await waitFor('resolved', () => !alertsJson().some((a) => a.key === failingKey), 90_000);
  },
);

test(
  "archive_command reports success but hands WAL elsewhere ('true'): archive-stale",
  { timeout: 180_000 },
  async () => {
    const mark = received.length;
    const key = `archive-stale:${CLUSTER}`;
    await setArchiveCommand('true');
    await makeWal();
    await waitFor('archive-stale at the webhook', () => got(mark, 'raised', key), 60_000);
    assert.ok(alertsJson().some((a) => a.key === key && a.kind === 'archive-stale'));
    await setArchiveCommand(archiveCommand);
    await makeWal();
    await waitFor('archive-stale resolved once WAL reaches the stores again', () => got(mark, 'resolved', key), 60_000);
  },
);

test('the host worker dies: host-silent from the worker that serves shared work', { timeout: 240_000 }, async () => {
  const mark = received.length;
  const key = `host-silent:${CLUSTER}`;
  env.killWorker();
  await waitFor('host-silent at the webhook', () => got(mark, 'raised', key), 90_000);
  const open = alertsJson();
  assert.ok(open.some((a) => a.key === key && a.kind === 'host-silent'));
  assert.ok(!open.some((a) => a.key === `host-silent:${shared.config.hostId}`), 'the live host is not silent');
  await env.startWorker();
  await waitFor('host-silent resolved', () => got(mark, 'resolved', key), 90_000);
});

test(
  'a host gone for good is retired: refused while it polls, then no longer checked',
  { timeout: 120_000 },
  async () => {
    const client = await env.client();
    // A host that once had a worker: its sweep Schedule is what makes it one of the cluster's hosts.
    await client.schedule.create({
      scheduleId: `archive-sweep/${CLUSTER}/gone`,
      spec: { intervals: [{ every: '1h' }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'archiveSweep',
        taskQueue: hostQueue(CLUSTER, 'gone'),
        args: [{ cluster: CLUSTER, hostId: 'gone' }],
      },
      memo: { cluster: CLUSTER, purpose: 'archive whatever waits in the spool' },
    });
    const mark = received.length;
    await waitFor('host-silent for the gone host', () => got(mark, 'raised', 'host-silent:gone'), 60_000);

    const live = env.walflow(['schedules', 'retire-host', env.config.hostId]);
    assert.notEqual(live.status, 0, 'a host whose worker polls is not retired');
    assert.match(live.stderr, new RegExp(`host ${env.config.hostId} is not gone: .* polls .*; stop its worker first`));
    const unknown = env.walflow(['schedules', 'retire-host', 'nosuch']);
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.stderr, new RegExp(`cluster ${CLUSTER} has no host nosuch .*its hosts: .*gone`));

    const r = env.walflow(['schedules', 'retire-host', 'gone']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^resolved: host-silent:gone$/m);
    await waitFor('the resolution at the webhook', () => got(mark, 'resolved', 'host-silent:gone'), 60_000);
    const retired = received.length;
    await new Promise((res) => setTimeout(res, 10_000)); // three check cycles
    assert.equal(got(retired, 'raised', 'host-silent:gone'), 0, 'a retired host raises nothing');
    assert.ok(!alertsJson().some((a) => a.key === 'host-silent:gone'));
    const sweeps: string[] = [];
    for await (const s of client.schedule.list())
      if (s.scheduleId.startsWith('archive-sweep/')) sweeps.push(s.scheduleId);
    assert.deepEqual(
      sweeps.sort(),
      [`archive-sweep/${CLUSTER}/${env.config.hostId}`, `archive-sweep/${CLUSTER}/${shared.config.hostId}`].sort(),
    );
  },
);

test(
  'schedules apply removes the Schedules these settings no longer define, and only those',
  { timeout: 60_000 },
  async () => {
    const client = await env.client();
    const spec = { intervals: [{ every: '1d' as const }] };
    const action = (cluster: string) => ({
      type: 'startWorkflow' as const,
      workflowType: 'verify',
      taskQueue: `walflow-cluster-${cluster}`,
      args: [{ cluster }],
    });
    // An older walflow's Schedule, another cluster's, and one walflow did not make.
    await client.schedule.create({
      scheduleId: `webhook-retry/${CLUSTER}`,
      spec,
      action: action(CLUSTER),
      memo: { purpose: 'retry the webhook' },
    });
    await client.schedule.create({
      scheduleId: 'verify/checks-other',
      spec,
      action: action('checks-other'),
      memo: { purpose: 'prove' },
    });
    await client.schedule.create({ scheduleId: `reports/${CLUSTER}`, spec, action: action(CLUSTER) });
    const noDrills = `${env.envFile}.nodrill`;
    fs.writeFileSync(noDrills, fs.readFileSync(env.envFile, 'utf8') + 'WALFLOW_DRILL_EVERY=off\n', { mode: 0o644 });

    const dry = env.walflow(['schedules', 'apply', '--dry-run', '--env-file', noDrills]);
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`^would delete: drill/${CLUSTER} \\(WALFLOW_DRILL_EVERY=off\\)$`, 'm'));
    assert.match(dry.stdout, new RegExp(`^would delete: webhook-retry/${CLUSTER} `, 'm'));
    assert.doesNotMatch(dry.stdout, /checks-other|reports\//);
    const ids = async () => {
      const out: string[] = [];
      for await (const s of client.schedule.list()) out.push(s.scheduleId);
      return out;
    };
    assert.ok((await ids()).includes(`drill/${CLUSTER}`), 'a dry run deletes nothing');

    const r = env.walflow(['schedules', 'apply', '--env-file', noDrills]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^deleted: drill/${CLUSTER} `, 'm'));
    const left = await ids();
    for (const gone of [`drill/${CLUSTER}`, `webhook-retry/${CLUSTER}`])
      assert.ok(!left.includes(gone), `${gone} deleted`);
    for (const kept of ['verify/checks-other', `reports/${CLUSTER}`, `verify/${CLUSTER}`, `checks/${CLUSTER}`])
      assert.ok(left.includes(kept), `${kept} kept`);
    for (const id of ['verify/checks-other', `reports/${CLUSTER}`]) await client.schedule.getHandle(id).delete();
  },
);
