// The catalog database lost and rebuilt from the stores: status, the backup list and a restore
// work as before.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import type { StatusReport } from '../cli/commands/status';
import { PgCluster } from '../lib/devstack/pgcluster';
import { catalogQuery } from './support/catalog';
import { TestEnv, waitFor } from './support/env';
import { pitrEnv, restoreAndStart, rowsInT, takeBackup } from './support/pitr';

let env: TestEnv;
let pg: PgCluster;

before(async () => {
  ({ env, pg } = await pitrEnv('rebuild'));
});

after(async () => {
  await pg?.stop('immediate');
  await env?.close();
});

test(
  'catalog dropped and rebuilt from a store listing: status, backups and a restore work as before',
  { timeout: 300_000 },
  async () => {
    await pg.query('CREATE TABLE t AS SELECT generate_series(1, 50000) AS id');
    const backup = await takeBackup(env);
    await pg.query('INSERT INTO t SELECT generate_series(1, 1000)');
    const last = await pg.switchWal();
    await waitFor(
      'archived',
      () => env.spoolFiles().length === 0 && env.walKeys('r2').then((k) => k.some((x) => x.includes(last))),
      90_000,
    );
    await env.stopWorker();
    const before = JSON.parse(env.walflow(['status', '--json']).stdout) as StatusReport;
    const backupsBefore = JSON.parse(env.walflow(['backups', '--json']).stdout) as {
      backupId: string;
      status: string;
      startLsn: string;
      stopLsn: string;
    }[];
    const rowsBefore = await catalogQuery(
      env.config.catalogUrl,
      "SELECT name, sha256, raw_size, codec, key FROM wal_files WHERE cluster = 'rebuild' ORDER BY name",
    );

    // Lose the whole catalog: every table and the migration journal.
    await catalogQuery(
      env.config.catalogUrl,
      'DROP SCHEMA public CASCADE; CREATE SCHEMA public; DROP SCHEMA IF EXISTS drizzle CASCADE',
    );

    const r = env.walflow(['catalog', 'rebuild']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `catalog rebuilt for rebuild: ${rowsBefore.length} WAL files and ${rowsBefore.length * 2} copies recorded, 1 backups`,
      ),
    );
    const rowsAfter = await catalogQuery(
      env.config.catalogUrl,
      "SELECT name, sha256, raw_size, codec, key FROM wal_files WHERE cluster = 'rebuild' ORDER BY name",
    );
    assert.deepEqual(rowsAfter, rowsBefore);
    const after = JSON.parse(env.walflow(['status', '--json']).stdout) as StatusReport;
    assert.deepEqual(after.stores.r2?.newestSegment, before.stores.r2?.newestSegment);
    assert.deepEqual(after.stores.b2?.newestSegment, before.stores.b2?.newestSegment);
    assert.deepEqual(after.archived.files, before.archived.files);
    const backupsAfter = JSON.parse(env.walflow(['backups', '--json']).stdout) as typeof backupsBefore;
    const pick = (b: (typeof backupsBefore)[number]) => [b.backupId, b.status, b.startLsn, b.stopLsn];
    assert.deepEqual(backupsAfter.map(pick), backupsBefore.map(pick));
    assert.equal(backupsAfter[0].backupId, backup.backupId);
    const again = env.walflow(['catalog', 'rebuild']);
    assert.match(again.stdout, /0 WAL files and 0 copies recorded, 0 backups/, 'a second rebuild changes nothing');

    // A restore to the end of the archive on the rebuilt catalog holds every committed row.
    await env.startWorker();
    const res = await restoreAndStart(env, path.join(env.dir, 'restored'));
    assert.equal(res.status, 0, res.stderr);
    try {
      assert.equal(await rowsInT(res.cluster), 51000);
    } finally {
      await res.cluster.stop('immediate');
    }
  },
);
