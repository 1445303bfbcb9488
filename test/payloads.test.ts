// Payloads stay small whatever the archive's size: on an archive of 5,000 WAL objects, with
// copies to repair and half the WAL to prune, the largest payload in the verify and retention
// workflows' histories (inputs, results, memos) stays under a few kilobytes, while `walflow
// verify --json` and `walflow prune --dry-run` still give every repair and every deletion. A
// verify whose worker is killed mid-run continues from its last checkpoint on the next attempt.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, before, test } from 'node:test';
import { clusterQueue, VerifyReport, VerifySummary } from '../lib/contracts';
import { catalogQuery } from './support/catalog';
import { TestEnv, waitFor } from './support/env';
import { LargestPayload, largestPayload, workflowIds } from './support/history';
import { SyntheticArchive, syntheticArchive, writeSyntheticArchive } from './support/synthetic';

const COUNT = 5000;
const MAX_PAYLOAD = 16 * 1024;
const missingInB2 = (segment: string) => parseInt(segment.slice(-2), 16) % 10 === 5;

let env: TestEnv;
let archive: SyntheticArchive;
let now: Date;

before(
  async () => {
    env = new TestEnv('payloads');
    await env.startWorker();
    archive = syntheticArchive(env.config.cluster, COUNT);
    now = new Date();
    await writeSyntheticArchive(env.stores.get('r2')!, archive, now);
    await writeSyntheticArchive(env.stores.get('b2')!, archive, now, { skip: missingInB2 });
  },
  { timeout: 600_000 },
);

after(async () => {
  await env?.close();
});

/** The largest payload in each history of this cluster's runs of a workflow type. */
async function largestPayloads(type: string, runs: number): Promise<LargestPayload[]> {
  const client = await env.client();
  const ids = await waitFor(
    `${runs} ${type} run(s) listed`,
    async () => {
      const found = await workflowIds(client, type, env.config.cluster);
      return found.length >= runs ? found : undefined;
    },
    30_000,
  );
  return Promise.all(ids!.map((id) => largestPayload(client, id)));
}

function assertBounded(runs: LargestPayload[]): void {
  for (const r of runs)
    assert.ok(r.bytes < MAX_PAYLOAD, `${r.workflowId}: a payload of ${r.bytes} bytes at ${r.where}`);
}

test(
  'a verify killed mid-run continues from its checkpoint and reports each repair at most once',
  { timeout: 600_000 },
  async () => {
    const client = await env.client();
    const workflowId = `verify/${env.config.cluster}/killed`;
    const handle = await client.workflow.start('verify', {
      taskQueue: clusterQueue(env.config.cluster),
      workflowId,
      args: [{ cluster: env.config.cluster, repair: true }],
    });
    const beat = (await waitFor(
      'a checkpoint in the heartbeat',
      async () => {
        const payload = (await handle.describe()).raw.pendingActivities?.[0]?.heartbeatDetails?.payloads?.[0]?.data;
        const details = payload ? (JSON.parse(Buffer.from(payload).toString()) as { lastKey: string }) : undefined;
        return details?.lastKey ? details : undefined;
      },
      300_000,
      1000,
    ))!;
    const logAt = fs.statSync(env.workerLog).size;
    env.killWorker();
    await env.startWorker();
    const summary = (await handle.result()) as VerifySummary;

    const resumed = fs
      .readFileSync(env.workerLog, 'utf8')
      .slice(logAt)
      .split('\n')
      .find((l) => l.includes('verify continues after its last checkpoint'));
    assert.ok(resumed, 'the retried attempt says where it continues');
    const { after: resumedAfter, checked } = JSON.parse(resumed) as { after: string; checked: number };
    assert.ok(
      resumedAfter >= beat.lastKey && checked > 0,
      `continued after ${resumedAfter} (${checked} checked); a checkpoint had reached ${beat.lastKey}`,
    );
    const missing = archive.segments.filter(missingInB2).map(archive.keyOf).sort();
    assert.equal(summary.objects, COUNT);
    // Repairs run one at a time and each is recorded right after its copy: the kill can fall
    // between the two for at most one repair, which is then made but not reported.
    const unreported = missing.length - summary.counts.repaired;
    assert.ok(
      unreported === 0 || unreported === 1,
      `${summary.counts.repaired} repairs reported for ${missing.length} missing copies`,
    );
    assert.equal(summary.repaired.length, 20, 'the result carries the first 20 as examples');
    const rows = await catalogQuery<{ key: string }>(
      env.config.catalogUrl,
      "SELECT item->>'key' AS key FROM run_details WHERE run_id = $1 AND section = 'repaired' ORDER BY seq",
      [summary.details.runId],
    );
    const recorded = rows.map((r) => r.key).sort();
    assert.equal(new Set(recorded).size, recorded.length, 'no repair recorded twice');
    assert.equal(recorded.length, summary.counts.repaired, 'the count matches the records');
    assert.ok(
      recorded.every((k) => missing.includes(k)),
      'only missing copies were repaired',
    );
    for (const key of missing) assert.ok(await env.stores.get('b2')!.head(key), `${key} repaired in b2`);
  },
);

test('verify --json lists every repair, with every payload under 16 KiB', { timeout: 600_000 }, async () => {
  const lost = archive.segments.filter((_, i) => i % 50 === 7).map(archive.keyOf);
  for (const key of lost) await env.stores.get('r2')!.delete(key);
  const r = env.walflow(['verify', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as VerifyReport;
  assert.equal(report.objects, COUNT);
  assert.deepEqual(report.repaired.map((x) => x.key).sort(), lost.sort(), 'every repair is listed');
  assert.ok(report.repaired.every((x) => x.store === 'r2' && x.problem === 'missing'));
  assert.equal(report.problems.length, lost.length);
  assert.deepEqual(report.gaps, []);
  assertBounded(await largestPayloads('verify', 2));
});

test(
  'prune --dry-run lists every deletion, prune deletes them, with every payload under 16 KiB',
  { timeout: 600_000 },
  async () => {
    const flags = ['--as-of', now.toISOString(), '--retention-days', '30', '--min-backups', '1'];
    const text = env.walflow(['prune', '--dry-run', ...flags]);
    assert.equal(text.status, 0, text.stderr);
    const listed = text.stdout
      .split('\n')
      .filter((l) => l.startsWith('  would delete '))
      .map((l) => l.slice('  would delete '.length).split(':')[0]);
    assert.equal(listed.length, 2 * archive.prunable.length, 'each store lists each deletion');
    assert.deepEqual([...new Set(listed)].sort(), [...archive.prunable].sort());
    assert.match(
      text.stdout,
      new RegExp(
        `keep timeline 1 from ${archive.segments[COUNT / 2]} to ${archive.segments[COUNT - 1]} \\(${COUNT / 2} file\\(s\\)\\)`,
      ),
    );

    const dry = env.walflow(['prune', '--dry-run', '--json', ...flags]);
    assert.equal(dry.status, 0, dry.stderr);
    const plan = JSON.parse(dry.stdout) as { stores: { store: string; deletions: { key: string }[] }[] };
    for (const s of plan.stores)
      assert.deepEqual(s.deletions.map((d) => d.key).sort(), [...archive.prunable].sort(), s.store);

    const real = env.walflow(['prune', '--json', ...flags]);
    assert.equal(real.status, 0, real.stderr);
    assert.equal((JSON.parse(real.stdout) as { deleted: number }).deleted, 2 * archive.prunable.length);
    for (const s of ['r2', 'b2'])
      assert.equal((await env.walKeys(s)).length, COUNT - COUNT / 2, `${s} keeps the newer half`);
    assertBounded(await largestPayloads('retention', 3));
  },
);
