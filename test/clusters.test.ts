// Two clusters on one Temporal, each with its own stores and retention and a worker of its own:
// every run of one cluster sees only that cluster's stores, whichever worker polls first. A
// cluster no worker serves fails at once with its name; one worker serves two clusters.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { PgCluster } from '../lib/devstack/pgcluster';
import { freePort, ROOT, startBackground, stopPid } from '../lib/devstack/procs';
import { openStack } from '../lib/devstack/stack';
import type { RetentionListing, VerifyReport } from '../lib/contracts';
import type { ClusterLine } from '../cli/commands/statusall';
import { TestEnv, waitFor } from './support/env';
import { pitrEnv } from './support/pitr';

/** Cluster b's stores: the same servers, other names, another prefix. */
function storesUnderOtherNames(): Record<string, string> {
  const stack = openStack(process.env.WALFLOW_TEST_STACK!);
  const out: Record<string, string> = { WALFLOW_STORES: 'br2,bb2', WALFLOW_RETENTION_DAYS: '7' };
  for (const [from, to] of [
    ['R2', 'BR2'],
    ['B2', 'BB2'],
  ])
    for (const [k, v] of Object.entries(stack.env()))
      if (k.startsWith(`WALFLOW_STORE_${from}_`))
        out[k.replace(`WALFLOW_STORE_${from}_`, `WALFLOW_STORE_${to}_`)] = k.endsWith('_PREFIX') ? 'walflow-b' : v;
  return out;
}

const RUNS = 2;
let a: TestEnv, b: TestEnv;
let pgA: PgCluster, pgB: PgCluster;

async function withCluster(name: string, extraEnv: Record<string, string> = {}): Promise<[TestEnv, PgCluster]> {
  const { env, pg } = await pitrEnv(name, extraEnv);
  return [env, pg];
}

/** Runs a walflow command for `env`, as postgres would, failing the test rather than hanging on it. */
function walflow(
  env: TestEnv,
  args: string[],
  timeoutMs = 120_000,
): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(path.join(ROOT, 'bin', 'walflow'), [...args, '--env-file', env.envFile], {
    encoding: 'utf8',
    env: { PATH: '/usr/bin:/bin' },
    timeout: timeoutMs,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr + (r.error ? `\n${r.error.message}` : '') };
}

async function archiveSome(env: TestEnv, pg: PgCluster): Promise<string> {
  await pg.query('CREATE TABLE IF NOT EXISTS t (id int)');
  await pg.query('INSERT INTO t SELECT generate_series(1, 1000)');
  const last = await pg.switchWal();
  const store = env.config.stores[0].name;
  await waitFor(
    `${last} of ${env.name} in ${store}`,
    async () => (await env.walKeys(store)).some((k) => k.endsWith(`/${last}.zst`)),
    90_000,
  );
  return last;
}

before(async () => {
  [[a, pgA], [b, pgB]] = await Promise.all([
    withCluster('clusters-a'),
    withCluster('clusters-b', storesUnderOtherNames()),
  ]);
  await Promise.all([archiveSome(a, pgA), archiveSome(b, pgB)]);
});

after(async () => {
  for (const pg of [pgA, pgB]) await pg?.stop('immediate').catch(() => undefined);
  for (const env of [a, b]) await env?.close();
});

test(
  "verify, retention, backups and restores of each cluster use that cluster's stores, every run",
  { timeout: 600_000 },
  async () => {
    for (const [env, stores, days] of [
      [a, ['r2', 'b2'], 30],
      [b, ['br2', 'bb2'], 7],
    ] as const) {
      for (let i = 0; i < RUNS; i++) {
        const v = walflow(env, ['verify', '--json']);
        assert.equal(v.status, 0, `verify of ${env.name}, run ${i + 1}: ${v.stderr}`);
        const report = JSON.parse(v.stdout) as VerifyReport;
        assert.deepEqual(report.stores, stores, `verify of ${env.name}, run ${i + 1}`);
        assert.ok(report.objects > 0, `verify of ${env.name} found its WAL, run ${i + 1}`);

        const p = walflow(env, ['prune', '--dry-run', '--json']);
        assert.equal(p.status, 0, `prune of ${env.name}, run ${i + 1}: ${p.stderr}`);
        const plan = JSON.parse(p.stdout) as RetentionListing;
        assert.deepEqual(
          plan.stores.map((s) => [s.store, s.retentionDays]),
          stores.map((s) => [s, days]),
          `retention of ${env.name}, run ${i + 1}`,
        );
      }
    }

    const backups = new Map<TestEnv, string>();
    for (const env of [a, b]) {
      const r = walflow(env, ['backup', '--wait'], 240_000);
      assert.equal(r.status, 0, `backup of ${env.name}: ${r.stderr}`);
      const id = /backup (\S+) complete/.exec(r.stdout)?.[1];
      assert.ok(id, r.stdout);
      backups.set(env, id);
      for (const store of env.stores.values())
        assert.ok(await store.head(`${env.name}/backups/${id}/manifest.json`), `${env.name}'s manifest in its stores`);
    }
    for (const env of [a, b])
      for (let i = 0; i < RUNS; i++) {
        const r = walflow(env, ['restore', '--plan-only', '--wait']);
        assert.equal(r.status, 0, `restore plan of ${env.name}, run ${i + 1}: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`would use ${backups.get(env)}`), `restore plan of ${env.name}`);
      }
  },
);

test('the Web UI finds the restores of one cluster by its search attributes', { timeout: 60_000 }, async () => {
  const registered = walflow(b, ['search-attributes', 'register']);
  assert.equal(registered.status, 0, registered.stderr);
  assert.match(registered.stdout, /already registered in default/);
  const client = await b.client();
  const found = await waitFor(
    'restores of clusters-b in the visibility store',
    async () => {
      const ids: string[] = [];
      for await (const w of client.workflow.list({
        query: 'WalflowCluster = "clusters-b" AND WalflowKind = "restore"',
      }))
        ids.push(w.workflowId);
      return ids.length >= RUNS ? ids : undefined;
    },
    30_000,
    1_000,
  );
  for (const id of found!) assert.match(id, /^restore\/clusters-b\//);
});

test('status --all shows both clusters, each with its own stores and backup', { timeout: 60_000 }, () => {
  const r = walflow(a, ['status', '--all', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const lines = JSON.parse(r.stdout) as ClusterLine[];
  for (const [env, stores] of [
    [a, ['b2', 'r2']],
    [b, ['bb2', 'br2']],
  ] as const) {
    const line = lines.find((l) => l.cluster === env.name);
    assert.ok(line, `${env.name} in ${r.stdout}`);
    assert.deepEqual(Object.keys(line.stores).sort(), stores);
    assert.ok(line.lastBackup, `${env.name} has a backup`);
    // The dry runs before any backup raised retention-blocked; no run since has resolved it.
    assert.ok(line.openAlerts >= 1, JSON.stringify(line));
  }
  const text = walflow(b, ['status', '--all']);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^clusters-a .*backup \S+ .*$/m);
  assert.match(text.stdout, /^clusters-b .*br2 0000000100000000000000\w\w.*$/m);
});

test('a workflow for a cluster no worker serves fails at once, naming the cluster', { timeout: 60_000 }, () => {
  const nobody = new TestEnv('clusters-nobody');
  const t0 = Date.now();
  const r = walflow(nobody, ['verify'], 45_000);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /no running worker serves cluster clusters-nobody/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(Date.now() - t0 < 30_000, `answered in ${Date.now() - t0} ms`);
});

test('one worker serving two clusters archives both, and its metrics show both', { timeout: 240_000 }, async () => {
  await Promise.all([a.stopWorker(), b.stopWorker()]);
  const metrics = `127.0.0.1:${await freePort()}`;
  const dir = path.join(a.dir, '..', 'clusters-both');
  const pidFile = path.join(dir, 'pids', 'worker.pid');
  startBackground({
    name: 'worker',
    cmd: path.join(ROOT, 'bin', 'walflow'),
    logFile: path.join(dir, 'logs', 'worker.log'),
    pidFile,
    args: ['worker'],
    env: { WALFLOW_ENV_FILES: `${a.envFile},${b.envFile}`, WALFLOW_METRICS_ADDRESS: metrics },
    asPostgres: true,
  });
  try {
    const [lastA, lastB] = await Promise.all([archiveSome(a, pgA), archiveSome(b, pgB)]);
    // The catalog records a file once both stores hold it: poll until the scrape shows both clusters' newest.
    const newestShown = async (cluster: string, store: string, last: string) => {
      const scraped = await (await fetch(`http://${metrics}/metrics`)).text();
      return scraped
        .split('\n')
        .some(
          (l) =>
            l.startsWith('walflow_store_newest_segment{') &&
            [`cluster="${cluster}"`, `store="${store}"`, `segment="${last}"`].every((x) => l.includes(x)),
        );
    };
    await waitFor('metrics of clusters-a', () => newestShown('clusters-a', 'r2', lastA), 60_000);
    await waitFor('metrics of clusters-b', () => newestShown('clusters-b', 'br2', lastB), 60_000);
  } finally {
    await stopPid(pidFile, 30_000);
  }
});
