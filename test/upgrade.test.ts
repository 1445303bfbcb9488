// Upgrading the worker while WAL waits for a store that is down: the archiveSegment runs started
// by one release finish under the next, whose archiveSegment has changed, and every file
// reaches both stores.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { archiveWorkflowId, legacyQueues } from '../lib/contracts';
import { PgCluster } from '../lib/devstack/pgcluster';
import { ROOT } from '../lib/devstack/procs';
import { writeWorkflowBundle } from '../workers/bundle';
import type { verify } from '../workflows/verify';
import { TestEnv, waitFor } from './support/env';
import { UPGRADE_PATCH } from './support/upgraded-workflows';

let env: TestEnv;
let pg: PgCluster;
let client: Client;

before(async () => {
  env = new TestEnv('upgrade', { WALFLOW_ALERT_UPLOAD_FAILING_AFTER: '3s' });
  await env.startWorker();
  pg = await env.createCluster();
  await pg.query('CREATE TABLE t (id serial primary key, payload text)');
  client = await env.client();
});

after(async () => {
  await env.stack.start('b2');
  await pg?.stop('immediate');
  await env?.close();
});

/** Another installation of walflow: this one's code, with the next release's workflow bundle. */
async function nextRelease(dir: string): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  for (const d of ['bin', 'dist', 'db']) fs.cpSync(path.join(ROOT, d), path.join(dir, d), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  for (const l of ['node_modules', '.tools']) fs.symlinkSync(fs.realpathSync(path.join(ROOT, l)), path.join(dir, l));
  await writeWorkflowBundle(
    path.join(dir, 'dist', 'workflow-bundle.js'),
    path.join(ROOT, 'dist', 'test', 'support', 'upgraded-workflows'),
  );
  return dir;
}

function workerLogLines(): Record<string, unknown>[] {
  return fs
    .readFileSync(env.workerLog, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function makeSegments(n: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    await pg.query("INSERT INTO t (payload) SELECT repeat('x', 500) FROM generate_series(1, 2000)");
    const name = await pg.switchWal();
    // One file at a time: two in the spool at once would go together as an archiveBatch.
    await waitFor(`the run of ${name}`, () =>
      client.workflow
        .getHandle(archiveWorkflowId('upgrade', name))
        .describe()
        .then(
          () => true,
          () => false,
        ),
    );
    names.push(name);
  }
  return names;
}

async function inStore(store: string, names: string[]): Promise<boolean> {
  const keys = new Set(await env.walKeys(store));
  return names.every((n) => keys.has(`upgrade/wal/00000001/${n}.zst`));
}

/**
 * What the run of `name` recorded: whether it took the patched step, and who completed its last
 * task; with `finished`, once it has finished (it removes the spool copy shortly before).
 */
async function runOf(name: string, finished = false) {
  const handle = client.workflow.getHandle(archiveWorkflowId('upgrade', name));
  if (finished) await handle.result();
  const { status } = await handle.describe();
  const events = (await handle.fetchHistory()).events ?? [];
  const patches = events.flatMap((e) =>
    Object.values(e.markerRecordedEventAttributes?.details ?? {}).flatMap((p) =>
      (p.payloads ?? []).map((x) => Buffer.from(x.data ?? []).toString()),
    ),
  );
  const identities = events.flatMap((e) => e.workflowTaskCompletedEventAttributes?.identity ?? []);
  return { status: status.name, patched: patches.some((p) => p.includes(UPGRADE_PATCH)), lastTask: identities.at(-1) };
}

test(
  'archiveSegment runs in flight during an upgrade finish under the new release; every file reaches both stores',
  { timeout: 300_000 },
  async () => {
    const release = await nextRelease(path.join(env.dir, 'next-release'));
    await env.stack.stop('b2');
    let inFlight: string[] = [];
    let upgradedPid: number | undefined;
    try {
      inFlight = await makeSegments(3);
      await waitFor('segments in r2', () => inStore('r2', inFlight), 60_000);
      for (const n of inFlight) assert.equal((await runOf(n)).status, 'RUNNING', `${n} waits for b2`);
      // The workflow's own log line reaches the worker's JSON log with its workflow's context.
      const workflowId = archiveWorkflowId('upgrade', inFlight[0]);
      await waitFor('a store-failing line from the workflow', () =>
        workerLogLines().some(
          (l) => l.sdkComponent === 'workflow' && l.workflowId === workflowId && /not accepted/.test(String(l.msg)),
        ),
      );
      await env.stopWorker();
      await env.startWorker(release);
      upgradedPid = env.workerProcess;
    } finally {
      await env.stack.start('b2');
    }
    const afterUpgrade = await makeSegments(1);
    const all = [...inFlight, ...afterUpgrade];
    await waitFor(
      'every segment in both stores',
      async () => (await inStore('r2', all)) && inStore('b2', all),
      150_000,
    );
    await waitFor('empty spool', () => all.every((n) => !env.spoolFiles().includes(n)), 30_000);

    for (const n of all) {
      const run = await runOf(n, true);
      assert.equal(run.status, 'COMPLETED', n);
      assert.match(run.lastTask ?? '', new RegExp(`^${upgradedPid}@`), `${n} finished on the upgraded worker`);
      assert.equal(run.patched, afterUpgrade.includes(n), `${n}: only runs started by the new release take its step`);
    }
    const log = fs.readFileSync(env.workerLog, 'utf8');
    assert.doesNotMatch(log, /[Nn]ondeterminism/, 'no run failed to replay under the new release');
  },
);

test('runs left on the queues of releases before one queue per cluster still finish', async () => {
  // What a release before per-cluster queues started: a verify on the shared `walflow` queue.
  const { shared } = legacyQueues(env.config.hostId);
  const summary = await client.workflow.execute<typeof verify>('verify', {
    taskQueue: shared,
    workflowId: 'verify/upgrade/legacy-queue',
    args: [{ cluster: 'upgrade', repair: false }],
    workflowExecutionTimeout: '2 minutes',
  });
  assert.deepEqual(summary.stores, ['r2', 'b2'], 'the verify ran on a worker polling the old queue');
});
