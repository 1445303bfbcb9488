// A cluster laid out as Debian does: postgresql.conf, pg_hba.conf and pg_ident.conf outside
// the data folder, so its base backups hold none of them. Restores start there all the same,
// on a minimal configuration that accepts local connections only, and drills work.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { PgCluster } from '../lib/devstack/pgcluster';
import { freePort } from '../lib/devstack/procs';
import type { BackupManifest, DrillResult } from '../lib/contracts';
import { TestEnv } from './support/env';
import { pitrEnv, restoredCluster, runRestore, takeBackup, waitArchived } from './support/pitr';

const CONFIG_FILES = ['pg_hba.conf', 'pg_ident.conf', 'postgresql.conf'];
let env: TestEnv;
let pg: PgCluster;
let backup: BackupManifest;
let etc: string;
const restored: PgCluster[] = [];

before(async () => {
  etc = path.join(process.env.WALFLOW_TEST_STACK!, 'env', 'debian', 'etc', 'postgresql', '15', 'main');
  // More connections than PostgreSQL's default: recovery pauses for good with fewer.
  ({ env, pg } = await pitrEnv(
    'debian',
    { WALFLOW_DRILL_CHECK_QUERY: 'SELECT count(*)::int AS n FROM t' },
    { layout: { configDir: etc }, extraConf: ['max_connections = 150'] },
  ));
  await pg.query('CREATE TABLE t AS SELECT generate_series(1, 1000) AS id');
  backup = await takeBackup(env);
});

after(async () => {
  for (const r of restored) await r.stop('immediate').catch(() => undefined);
  await pg?.stop('immediate');
  await env?.close();
});

/** psql as the postgres OS user over the restored cluster's socket (peer authentication). */
function psql(cluster: PgCluster, sql: string): string {
  const socket = fs.readFileSync(path.join(cluster.data, 'postmaster.pid'), 'utf8').split('\n')[4].trim();
  return cluster.tool('psql', ['-h', socket, '-d', 'postgres', '-At', '-c', sql]).trim();
}

test('the source keeps its configuration outside the data folder', () => {
  assert.deepEqual(
    CONFIG_FILES.filter((f) => fs.existsSync(path.join(pg.data, f))),
    [],
  );
  assert.deepEqual(
    CONFIG_FILES.filter((f) => fs.existsSync(path.join(etc, f))),
    CONFIG_FILES,
  );
});

test(
  'a restore writes a local-only configuration where the backup has none, says so, and starts',
  { timeout: 300_000 },
  async () => {
    await pg.query('INSERT INTO t SELECT generate_series(1001, 1500)');
    await waitArchived(env, await pg.switchWal());
    const port = await freePort();
    const data = path.join(env.dir, 'restored', 'data');
    const r = runRestore(env, ['--backup', backup.backupId, '--pgdata', data, '--start', '--port', String(port)]);
    const cluster = restoredCluster(env, data, port);
    restored.push(cluster);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /the backup holds no postgresql\.conf, pg_hba\.conf, pg_ident\.conf: wrote minimal ones \(local connections only\)/,
    );
    assert.equal(psql(cluster, 'SELECT count(*) FROM t'), '1500');
    // Safe by default: loopback only, and no password-less network login.
    assert.equal(psql(cluster, 'SHOW listen_addresses'), 'localhost');
    assert.equal(psql(cluster, 'SHOW max_connections'), '150', "the source's value, from the control file");
    const hba = fs.readFileSync(path.join(data, 'pg_hba.conf'), 'utf8');
    assert.doesNotMatch(hba, /^[^#]*\btrust\b/m);
    assert.doesNotMatch(hba, /^host.*0\.0\.0\.0/m);
    await assert.rejects(cluster.query('SELECT 1'), /password/, 'a TCP login without a password is refused');
  },
);

test('a drill restores, starts and checks this cluster', { timeout: 300_000 }, () => {
  const r = env.walflow(['drill', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout) as DrillResult;
  assert.equal(result.outcome, 'ok', result.error);
  assert.deepEqual(result.check?.first, { n: 1500 });
});
