// Clusters initialised with 1 MiB and 64 MiB WAL segments: archived across an xlog id boundary
// (where segment names wrap at a size-dependent number), verified without false gaps, backed up
// and restored.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PgCluster } from '../lib/devstack/pgcluster';
import { freePort } from '../lib/devstack/procs';
import type { VerifyReport } from '../lib/contracts';
import { TestEnv } from './support/env';
import { pitrEnv, restoredCluster, runRestore, takeBackup, waitArchived } from './support/pitr';

const MiB = 1 << 20;

for (const { mib, firstWal } of [
  { mib: 1, firstWal: '000000010000000000000FFD' }, // 4096 segments per xlog id: FFF is the last
  { mib: 64, firstWal: '00000001000000000000003D' }, // 64 per xlog id: 3F is the last
]) {
  describe(`${mib} MiB WAL segments`, () => {
    let env: TestEnv;
    let pg: PgCluster;
    const restored: PgCluster[] = [];

    before(async () => {
      ({ env, pg } = await pitrEnv(
        `seg${mib}`,
        {},
        { layout: { initdbArgs: ['--wal-segsize', String(mib)], firstWal } },
      ));
    });

    after(async () => {
      for (const r of restored) await r.stop('immediate').catch(() => undefined);
      await pg?.stop('immediate');
      await env?.close();
    });

    test(
      'archive across an xlog id boundary, verify without gaps, back up and restore',
      { timeout: 420_000 },
      async () => {
        await pg.query('CREATE TABLE t (id int, batch text)');
        await pg.query("INSERT INTO t SELECT generate_series(1, 1000), 'base'");
        const backup = await takeBackup(env);
        assert.equal(backup.segmentSize, mib * MiB);
        const switched: string[] = [];
        for (let i = 0; i < 4; i++) {
          await pg.query(`INSERT INTO t SELECT generate_series(1, 100), 'batch ${i}'`);
          switched.push(await pg.switchWal());
        }
        await pg.query("SELECT pg_create_restore_point('crossed')");
        await pg.query("INSERT INTO t SELECT generate_series(1, 100), 'after'");
        switched.push(await pg.switchWal());
        for (const s of switched) await waitArchived(env, s);
        assert.ok(
          switched.some((s) => s.slice(8, 16) === '00000001'),
          `crossed into xlog id 1: ${switched.join(' ')}`,
        );

        const v = env.walflow(['verify', '--json']);
        const report = JSON.parse(v.stdout) as VerifyReport;
        assert.deepEqual(report.gaps, [], v.stderr);
        assert.deepEqual(report.problems, []);
        assert.equal(v.status, 0, v.stderr);

        const port = await freePort();
        const data = path.join(env.dir, 'restored', 'data');
        const r = runRestore(env, ['--target-name', 'crossed', '--pgdata', data, '--start', '--port', String(port)]);
        const cluster = restoredCluster(env, data, port);
        restored.push(cluster);
        assert.equal(r.status, 0, r.stderr);
        const rows = await cluster.query<{ batch: string; n: number }>(
          'SELECT batch, count(*)::int AS n FROM t GROUP BY batch ORDER BY batch',
        );
        assert.deepEqual(rows, [
          { batch: 'base', n: 1000 },
          { batch: 'batch 0', n: 100 },
          { batch: 'batch 1', n: 100 },
          { batch: 'batch 2', n: 100 },
          { batch: 'batch 3', n: 100 },
        ]);
        const [{ size }] = await cluster.query<{ size: string }>("SELECT current_setting('wal_segment_size') AS size");
        assert.equal(size, `${mib}MB`);
      },
    );
  });
}
