// Base backups: pg_basebackup streamed into both stores, manifest last, listed by `walflow backups`.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { codecByName } from '../lib/codec';
import { PgCluster } from '../lib/devstack/pgcluster';
import { stackPgMajor } from '../lib/devstack/procs';
import { pgMajor } from '../lib/pgbin';
import { parseLsn } from '../lib/wal/lsn';
import { catalogQuery } from './support/catalog';
import { TestEnv } from './support/env';
import { pitrEnv, takeBackup } from './support/pitr';

let env: TestEnv;
let pg: PgCluster;

before(async () => {
  ({ env, pg } = await pitrEnv('backup'));
});

after(async () => {
  await pg?.stop('immediate');
  await env?.close();
});

test(
  'walflow backup --wait: chunks and manifest in both stores, WAL archived, catalog row complete',
  { timeout: 240_000 },
  async () => {
    await pg.query('CREATE TABLE t AS SELECT generate_series(1, 100000) AS id');
    const m = await takeBackup(env);
    const [{ sysid }] = await pg.query<{ sysid: string }>(
      'SELECT system_identifier::text AS sysid FROM pg_control_system()',
    );
    assert.equal(m.systemIdentifier, sysid);
    assert.equal(
      m.pgVersion,
      Number((await pg.query<{ server_version_num: string }>('SHOW server_version_num'))[0].server_version_num),
    );
    assert.equal(pgMajor(m.pgVersion), stackPgMajor(), 'the version the test stack runs');
    assert.ok(parseLsn(m.stopLsn) > parseLsn(m.startLsn));
    assert.equal(m.fileCount, m.files.length);
    assert.ok(m.files.length >= 1 && m.rawSize > 20 << 20, `a real data directory: ${m.rawSize} bytes`);
    for (const store of ['r2', 'b2']) {
      const keys: string[] = [];
      for await (const o of env.stores.get(store)!.list(`backup/backups/${m.backupId}/`)) keys.push(o.key);
      assert.deepEqual(
        keys.sort(),
        [
          ...m.files.map((f) => `backup/backups/${m.backupId}/${f.name}`),
          `backup/backups/${m.backupId}/backup_manifest`,
          `backup/backups/${m.backupId}/files.json`,
          `backup/backups/${m.backupId}/manifest.json`,
        ].sort(),
      );
      // Every WAL file the backup needs is in the store.
      assert.ok(await env.stores.get(store)!.head(`backup/wal/00000001/${m.stopWal}.zst`), `${m.stopWal} in ${store}`);
    }
    // The chunks concatenate to a tar holding the backup label.
    const first = await env.stores.get('b2')!.get(`backup/backups/${m.backupId}/${m.files[0].name}`);
    const tar = await codecByName(m.codec).decompress(first);
    assert.ok(tar.includes(Buffer.from('backup_label')), 'a tar with backup_label');
    const rows = await catalogQuery<{ status: string; stop_lsn: string }>(
      env.config.catalogUrl,
      'SELECT status, stop_lsn::text FROM backups WHERE cluster = $1 AND backup_id = $2',
      ['backup', m.backupId],
    );
    assert.deepEqual(
      rows.map((r) => r.status),
      ['complete'],
    );
    assert.equal(BigInt(rows[0].stop_lsn), parseLsn(m.stopLsn));
    // Applied where PostgreSQL is reachable (WALFLOW_PG_URL), the schedules include a daily base backup.
    const applied = env.walflow(['schedules', 'apply']);
    assert.equal(applied.status, 0, applied.stderr);
    assert.match(applied.stdout, /^created: base-backup\/backup$/m);
    const schedule = await (await env.client()).schedule.getHandle('base-backup/backup').describe();
    assert.equal(schedule.spec.intervals?.[0]?.every, 24 * 3_600_000);
    assert.equal(schedule.action.type === 'startWorkflow' && schedule.action.workflowType, 'baseBackup');
    const listed = env.walflow(['backups']);
    assert.match(listed.stdout, new RegExp(`${m.backupId}\\s+complete`));
  },
);
