// The restore drill: succeeds on a healthy archive (time to recover recorded, scratch removed)
// and raises an alert on a broken one.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { PgCluster } from '../lib/devstack/pgcluster';
import type { BackupManifest, DrillResult } from '../lib/contracts';
import { catalogQuery } from './support/catalog';
import { TestEnv, waitFor } from './support/env';
import { pitrEnv, takeBackup } from './support/pitr';

let env: TestEnv;
let pg: PgCluster;
let backup: BackupManifest;
let drillDir: string;

before(async () => {
  ({ env, pg } = await pitrEnv('drill', { WALFLOW_DRILL_CHECK_QUERY: 'SELECT count(*)::int AS n FROM t' }));
  await pg.query('CREATE TABLE t AS SELECT generate_series(1, 1234) AS id');
  backup = await takeBackup(env);
  await pg.query('INSERT INTO t SELECT generate_series(1, 100)');
  await pg.switchWal();
  await waitFor('spool empty', () => env.spoolFiles().length === 0, 60_000);
  drillDir = path.join(os.tmpdir(), 'walflow-drills');
});

after(async () => {
  await pg?.stop('immediate');
  await env?.close();
});

const scratchOf = (r: DrillResult) => path.dirname(r.pgdata);

test(
  'a drill on a healthy archive restores the newest state, checks it and cleans up',
  { timeout: 300_000 },
  async () => {
    const r = env.walflow(['drill', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout) as DrillResult;
    assert.equal(result.outcome, 'ok');
    assert.equal(result.backupId, backup.backupId);
    assert.deepEqual(result.check?.first, { n: 1334 }, 'the newest archived state, rows after the backup included');
    assert.ok(result.secondsToRecover! > 0);
    assert.equal(fs.existsSync(scratchOf(result)), false, 'scratch folder removed');
    const [run] = await catalogQuery<{ outcome: string; summary: DrillResult }>(
      env.config.catalogUrl,
      "SELECT outcome, summary FROM runs WHERE cluster = 'drill' AND kind = 'drill' ORDER BY id DESC LIMIT 1",
    );
    assert.equal(run.outcome, 'ok');
    assert.equal(run.summary.secondsToRecover, result.secondsToRecover);
  },
);

test('a drill on a broken archive fails, alerts, and still cleans up', { timeout: 300_000 }, async () => {
  // Lose the backup's data in both stores (its manifest stays, so the drill still picks it).
  for (const s of ['r2', 'b2']) {
    for (const f of backup.files) await env.stores.get(s)!.delete(`drill/backups/${backup.backupId}/${f.name}`);
  }
  const before = fs.existsSync(drillDir) ? fs.readdirSync(drillDir) : [];
  const r = env.walflow(['drill', '--json']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /restore drill failed/);
  const alerts = JSON.parse(env.walflow(['alerts', '--json']).stdout) as { kind: string }[];
  assert.ok(
    alerts.some((a) => a.kind === 'drill-failure'),
    JSON.stringify(alerts),
  );
  const afterDirs = fs.existsSync(drillDir) ? fs.readdirSync(drillDir) : [];
  assert.deepEqual(
    afterDirs.filter((d) => d.startsWith('drill-')),
    before.filter((d) => d.startsWith('drill-')),
    'no scratch left behind',
  );
  const [run] = await catalogQuery<{ outcome: string }>(
    env.config.catalogUrl,
    "SELECT outcome FROM runs WHERE cluster = 'drill' AND kind = 'drill' ORDER BY id DESC LIMIT 1",
  );
  assert.equal(run.outcome, 'failed');
});
