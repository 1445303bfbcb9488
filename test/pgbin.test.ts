// PostgreSQL's programs by major version: WALFLOW_PG_BINDIR is where backups and restores find
// them when it is set, and a backup of a major version that is not installed fails its restore
// before anything is downloaded, with one line saying what to install or set.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { PgCluster } from '../lib/devstack/pgcluster';
import { pgBin, stackPgMajor } from '../lib/devstack/procs';
import type { Store } from '../lib/stores/store';
import type { BackupManifest } from '../lib/contracts';
import { TestEnv } from './support/env';
import { pitrEnv, restoreAndStart, rowsInT, runRestore, takeBackup, waitArchived } from './support/pitr';

const TOOLS = ['pg_basebackup', 'pg_verifybackup', 'pg_ctl', 'pg_controldata'];
let env: TestEnv;
let pg: PgCluster;
let backup: BackupManifest;
let bindir: string;
let calls: string;
const restored: PgCluster[] = [];

before(async () => {
  // Wrappers that log each call, then run the installed PostgreSQL's program.
  bindir = path.join(process.env.WALFLOW_TEST_STACK!, 'pgbin-wrappers');
  calls = path.join(bindir, 'calls.log');
  fs.mkdirSync(bindir, { recursive: true, mode: 0o755 });
  fs.writeFileSync(calls, '', { mode: 0o666 });
  fs.chmodSync(calls, 0o666);
  for (const t of TOOLS) {
    fs.writeFileSync(path.join(bindir, t), `#!/bin/sh\necho "${t} $*" >> ${calls}\nexec ${pgBin(t)} "$@"\n`, {
      mode: 0o755,
    });
  }
  ({ env, pg } = await pitrEnv('pgbin', { WALFLOW_PG_BINDIR: bindir }));
  await pg.query('CREATE TABLE t AS SELECT generate_series(1, 1000) AS id');
  backup = await takeBackup(env);
});

after(async () => {
  for (const r of restored) await r.stop('immediate').catch(() => undefined);
  await pg?.stop('immediate');
  await env?.close();
});

const called = (tool: string) =>
  fs
    .readFileSync(calls, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith(`${tool} `) && !l.endsWith('--version'));

/** Copies an object within a store under another key, metadata included (create-only, like walflow). */
async function copyObject(store: Store, from: string, to: string): Promise<void> {
  const head = await store.head(from);
  await store.putNew(to, await store.get(from), head!.meta!);
}

test(
  'WALFLOW_PG_BINDIR: base backup and restore run the PostgreSQL programs found there',
  { timeout: 300_000 },
  async () => {
    assert.equal(called('pg_basebackup').length, 1, fs.readFileSync(calls, 'utf8'));
    await pg.query('INSERT INTO t SELECT generate_series(1001, 1500)');
    await pg.query("SELECT pg_create_restore_point('bindir')");
    await waitArchived(env, await pg.switchWal());
    const r = await restoreAndStart(
      env,
      path.join(env.dir, 'restored'),
      ['--backup', backup.backupId, '--target-name', 'bindir'],
      restored,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(await rowsInT(r.cluster), 1500);
    const data = r.cluster.data;
    assert.equal(called('pg_verifybackup').length, 1);
    assert.ok(
      called('pg_ctl').some((l) => l.includes(data) && l.endsWith('start')),
      fs.readFileSync(calls, 'utf8'),
    );
    assert.ok(called('pg_controldata').length >= 1);
  },
);

test(
  'a backup of a PostgreSQL major version not installed here fails its restore before any download',
  { timeout: 180_000 },
  async () => {
    // The same backup, as if taken from PostgreSQL 17 (only the stack's version is in the wrappers' folder).
    const id = '29990101T000000Z';
    const manifest: BackupManifest = { ...backup, backupId: id, pgVersion: 170002, pgVersionText: '17.2' };
    const body = Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
    for (const store of env.stores.values()) {
      for (const f of backup.files)
        await copyObject(store, `pgbin/backups/${backup.backupId}/${f.name}`, `pgbin/backups/${id}/${f.name}`);
      await store.putNew(`pgbin/backups/${id}/manifest.json`, body, {
        codec: 'none',
        rawSize: body.length,
        sha256: createHash('sha256').update(body).digest('hex'),
      });
    }
    const data = path.join(env.dir, 'restored-17', 'data');
    const started = Date.now();
    const r = runRestore(env, ['--backup', id, '--immediate', '--pgdata', data]);
    assert.notEqual(r.status, 0, `restored a PostgreSQL 17 backup with PostgreSQL ${stackPgMajor()}: ${r.stdout}`);
    const line = r.stderr.split('\n').find((l) => l.startsWith('walflow: restore failed'));
    assert.match(
      line ?? r.stderr,
      new RegExp(
        `PostgreSQL 17's pg_verifybackup is not in WALFLOW_PG_BINDIR \\(.*: PostgreSQL ${stackPgMajor()}\\); add PostgreSQL 17's bin folder to WALFLOW_PG_BINDIR`,
      ),
    );
    assert.deepEqual(fs.readdirSync(data), [], 'nothing downloaded into the data folder');
    assert.ok(Date.now() - started < 60_000, 'failed at once, not after retries');
  },
);
