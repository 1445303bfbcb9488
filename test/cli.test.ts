// The operator's commands: schedules apply (idempotent), archive --wait, status, config errors.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import type { StatusReport } from '../cli/commands/status';
import { PgCluster } from '../lib/devstack/pgcluster';
import { TestEnv, waitFor } from './support/env';

let env: TestEnv;
let pg: PgCluster;

before(async () => {
  env = new TestEnv('cli');
  pg = await env.createCluster();
});

after(async () => {
  await pg?.stop('immediate');
  await env?.close();
});

test('schedules apply creates, then updates, the cluster-wide schedules and says what policy they carry', async () => {
  const first = env.walflow(['schedules', 'apply']);
  assert.equal(first.status, 0, first.stderr);
  for (const id of ['verify/cli', 'retention/cli', 'drill/cli'])
    assert.match(first.stdout, new RegExp(`^created: ${id}$`, 'm'));
  assert.doesNotMatch(first.stdout, /archive-sweep/, "a host's sweep is its worker's to create");
  assert.match(first.stdout, /^policy: keep backups 30 days, at least 1; drill on cli checking /m);
  const second = env.walflow(['schedules', 'apply']);
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stdout, /^updated: retention\/cli$/m);
  const client = await env.client();
  const desc = await client.schedule.getHandle('retention/cli').describe();
  assert.equal(desc.spec.intervals?.[0]?.every, 24 * 3_600_000);
});

test(
  'archive --wait sweeps a backlog left while no worker ran, and status reports it',
  { timeout: 180_000 },
  async () => {
    await pg.query('CREATE TABLE t AS SELECT generate_series(1, 50000) AS id');
    const names = [await pg.switchWal()];
    await pg.query('INSERT INTO t SELECT generate_series(1, 50000)');
    names.push(await pg.switchWal());
    await waitFor('backlog in the spool', () => names.every((n) => env.spoolFiles().includes(n)), 30_000);
    const st = env.walflow(['status', '--json']);
    assert.equal(st.status, 0, st.stderr);
    const before = JSON.parse(st.stdout) as StatusReport;
    assert.ok(before.spool.waiting >= 2, JSON.stringify(before.spool));

    await env.startWorker();
    const sweep = await (await env.client()).schedule.getHandle('archive-sweep/cli/cli').describe();
    assert.equal(sweep.spec.intervals?.[0]?.every, 5 * 60_000, "the worker ensures its host's sweep");
    const sweepInput =
      sweep.action.type === 'startWorkflow'
        ? (sweep.action.args?.[0] as { policy?: { retention: { days: number } } })
        : undefined;
    assert.equal(sweepInput?.policy?.retention.days, 30, 'with the applied policy');
    const r = env.walflow(['archive', '--wait']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /spool is empty/);
    assert.deepEqual(env.spoolFiles(), []);
    for (const n of names) assert.ok(await env.stores.get('b2')!.head(`cli/wal/00000001/${n}.zst`), `${n} in b2`);

    const text = env.walflow(['status']);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /spool\s+0 waiting/);
    assert.match(text.stdout, new RegExp(`store r2\\s+newest ${names[1]}`));
  },
);

test('missing or wrong configuration gives a one-line error that names the setting', () => {
  const bad = path.join(env.dir, 'bad.env');
  fs.writeFileSync(bad, `WALFLOW_STORES=r2\nWALFLOW_STORE_R2_TYPE=ftp\n`, { mode: 0o644 });
  const r = env.walflow(['status', '--env-file', bad]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /WALFLOW_CLUSTER/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  const missing = env.walflow(['status', '--env-file', '/nonexistent/walflow.env']);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /cannot read env file \/nonexistent\/walflow.env/);
});
