// A cluster's policy belongs to the cluster, not to whichever worker runs the task. Two workers
// of one cluster with different retention settings poll the cluster's queue: `walflow prune`
// applies the CLI's policy, the scheduled run the policy `walflow schedules apply` wrote into the
// Schedule, whichever worker picks them up (each is run with both workers, then with one alone).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, before, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import type { ClusterPolicy } from '../lib/clusterpolicy';
import type { RetentionPlan } from '../lib/contracts';
import { catalogQuery } from './support/catalog';
import { TestEnv, waitFor } from './support/env';

const CLUSTER = 'policy';
let operator: TestEnv; // applies the Schedules: 1 day, at least 2 backups, b2 3 days
let other: TestEnv; // runs `walflow prune`: 20 days, at least 1 backup
type RetentionResult = RetentionPlan & { deleted: number; policy?: unknown };

before(async () => {
  operator = new TestEnv('policy-a', {
    WALFLOW_CLUSTER: CLUSTER,
    WALFLOW_RETENTION_DAYS: '1',
    WALFLOW_RETENTION_MIN_BACKUPS: '2',
    WALFLOW_STORE_B2_RETENTION_DAYS: '3',
  });
  other = new TestEnv('policy-b', {
    WALFLOW_CLUSTER: CLUSTER,
    WALFLOW_RETENTION_DAYS: '20',
    WALFLOW_RETENTION_MIN_BACKUPS: '1',
  });
  const applied = operator.walflow(['schedules', 'apply']);
  assert.equal(applied.status, 0, applied.stderr);
  await Promise.all([operator.startWorker(), other.startWorker()]);
});

after(async () => {
  await operator?.close();
  await other?.close();
});

/** Retention days per store and the minimum backups a run decided by. */
function applied(r: RetentionResult) {
  return { minBackups: r.minBackups, days: Object.fromEntries(r.stores.map((s) => [s.store, s.retentionDays])) };
}

function prune(args: string[] = []): RetentionResult {
  const r = other.walflow(['prune', '--json', ...args]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as RetentionResult;
}

async function scheduledRun(): Promise<{ workflowId: string; result: RetentionResult }> {
  const client = await operator.client();
  const schedule = client.schedule.getHandle(`retention/${CLUSTER}`);
  const taken = (await schedule.describe()).info.numActionsTaken;
  await schedule.trigger();
  const started = (await waitFor(
    'the triggered run',
    async () => {
      const d = await schedule.describe();
      const last = d.info.recentActions[d.info.recentActions.length - 1];
      return d.info.numActionsTaken > taken && last?.action.type === 'startWorkflow' ? last.action.workflow : undefined;
    },
    30_000,
  ))!;
  const result = (await client.workflow
    .getHandle(started.workflowId, undefined, { firstExecutionRunId: started.firstExecutionRunId })
    .result()) as RetentionResult;
  return { workflowId: started.workflowId, result };
}

/** Runs `run` with both workers polling, then with each one alone. */
async function whicheverWorker(run: (who: string) => void | Promise<void>): Promise<void> {
  for (let i = 0; i < 3; i++) await run('both workers');
  await operator.stopWorker();
  for (let i = 0; i < 2; i++) await run(`only ${other.name}`);
  await operator.startWorker();
  await other.stopWorker();
  for (let i = 0; i < 2; i++) await run(`only ${operator.name}`);
  await other.startWorker();
}

test(
  'walflow prune applies the policy of the CLI that runs it, whichever worker plans it',
  { timeout: 300_000 },
  async () => {
    await whicheverWorker((who) => {
      assert.deepEqual(applied(prune(['--dry-run'])), { minBackups: 1, days: { r2: 20, b2: 20 } }, `prune with ${who}`);
    });
    assert.deepEqual(
      applied(prune(['--dry-run', '--retention-days', '5', '--min-backups', '3'])),
      { minBackups: 3, days: { r2: 5, b2: 5 } },
      'flags override the settings for this run',
    );
  },
);

test(
  'the scheduled run applies the policy written into the Schedule, whichever worker runs it',
  { timeout: 300_000 },
  async () => {
    await whicheverWorker(async (who) => {
      assert.deepEqual(
        applied((await scheduledRun()).result),
        { minBackups: 2, days: { r2: 1, b2: 3 } },
        `scheduled run with ${who}`,
      );
    });
  },
);

test('every run prints and records the policy it applied: output, memo, runs row', { timeout: 120_000 }, async () => {
  const text = other.walflow(['prune', '--dry-run']);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^policy: keep backups 20 days, at least 1\b/m);
  const bad = other.walflow(['prune', '--retention-days', 'soon']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^walflow: --retention-days "soon" is not a whole number of days.*\n$/);

  const json = prune();
  assert.deepEqual(json.policy, { days: 20, minBackups: 1, storeDays: {} });
  const { workflowId, result } = await scheduledRun();
  assert.deepEqual(result.policy, { days: 1, minBackups: 2, storeDays: { b2: 3 } });
  const memo = (await (await operator.client()).workflow.getHandle(workflowId).describe()).memo;
  assert.deepEqual(memo?.policy, { days: 1, minBackups: 2, storeDays: { b2: 3 } });
  const rows = await catalogQuery<{ workflow_id: string; summary: { policy: unknown } }>(
    operator.config.catalogUrl,
    "SELECT workflow_id, summary FROM runs WHERE cluster = $1 AND kind = 'retention' ORDER BY id",
    [CLUSTER],
  );
  assert.deepEqual(rows.find((r) => r.workflow_id === workflowId)?.summary.policy, {
    days: 1,
    minBackups: 2,
    storeDays: { b2: 3 },
  });
  assert.ok(
    rows.some((r) => isDeepStrictEqual(r.summary.policy, json.policy)),
    'the prune run is recorded with its policy',
  );
});

test('workers leave the cluster-wide Schedules alone; one that disagrees says so once', async () => {
  const desc = await (await operator.client()).schedule.getHandle(`retention/${CLUSTER}`).describe();
  const input =
    desc.action.type === 'startWorkflow' ? (desc.action.args?.[0] as { policy?: { retention?: unknown } }) : undefined;
  assert.deepEqual(
    input?.policy?.retention,
    { days: 1, minBackups: 2, storeDays: { b2: 3 } },
    "the applied policy, not a worker's",
  );
  for (const env of [operator, other]) {
    await (await env.client()).schedule.getHandle(`archive-sweep/${CLUSTER}/${env.name}`).describe(); // each host's own sweep
  }
  const lines = (env: TestEnv) =>
    fs
      .readFileSync(env.workerLog, 'utf8')
      .split('\n')
      .filter((l) => l.includes('differ from the cluster'));
  const starts = (env: TestEnv) =>
    fs
      .readFileSync(env.workerLog, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"msg":"worker running"')).length;
  assert.deepEqual(lines(operator), [], "the applier's settings are the cluster's");
  const said = lines(other);
  assert.equal(said.length, starts(other), 'once per worker start');
  for (const expected of [
    { setting: 'WALFLOW_RETENTION_DAYS', here: 20, cluster: 1 },
    { setting: 'WALFLOW_RETENTION_MIN_BACKUPS', here: 1, cluster: 2 },
    { setting: 'WALFLOW_STORE_B2_RETENTION_DAYS', here: 20, cluster: 3 },
  ]) {
    assert.ok(
      said.every((l) =>
        (JSON.parse(l) as { differences: unknown[] }).differences.some(
          (d) => JSON.stringify(d) === JSON.stringify(expected),
        ),
      ),
      `${expected.setting} named with both values: ${said[0]}`,
    );
  }
});

test(
  "editing the settings and applying again changes the policy of every Schedule, each host's sweep included",
  { timeout: 120_000 },
  async () => {
    const edited = `${operator.envFile}.edited`;
    fs.writeFileSync(
      edited,
      fs.readFileSync(operator.envFile, 'utf8').replace(/^WALFLOW_RETENTION_DAYS=.*$/m, 'WALFLOW_RETENTION_DAYS=2') +
        'WALFLOW_ALERT_SPOOL_AGE=2m\n',
      { mode: 0o644 },
    );
    const dry = operator.walflow(['schedules', 'apply', '--dry-run', '--env-file', edited]);
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(
      dry.stdout,
      new RegExp(`^would update: retention/${CLUSTER}: input .*"days":1,.* -> .*"days":2,`, 'm'),
    );
    assert.match(dry.stdout, new RegExp(`^unchanged: verify/${CLUSTER}$`, 'm'));
    assert.match(dry.stdout, /\(dry run: nothing changed\)$/m);
    assert.deepEqual(applied((await scheduledRun()).result).days, { r2: 1, b2: 3 }, 'a dry run changes nothing');
    const r = operator.walflow(['schedules', 'apply', '--env-file', edited]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^policy: keep backups 2 days, at least 2 \(b2 3 days\);.* waits 2m0s /m);
    const client = await operator.client();
    for (const env of [operator, other]) {
      const d = await client.schedule.getHandle(`archive-sweep/${CLUSTER}/${env.name}`).describe();
      const input =
        d.action.type === 'startWorkflow'
          ? (d.action.args?.[0] as { hostId: string; policy: ClusterPolicy })
          : undefined;
      assert.equal(input?.hostId, env.name, 'a sweep keeps its host');
      assert.deepEqual(
        [input?.policy.retention.days, input?.policy.alerts.spoolAgeMs],
        [2, 120_000],
        `${env.name}'s sweep carries the new policy`,
      );
    }
    assert.deepEqual(applied((await scheduledRun()).result), { minBackups: 2, days: { r2: 2, b2: 3 } });
  },
);
