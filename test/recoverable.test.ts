// walflow recoverable: from the end of a backup to the last archived commit, read from the
// segments' indexes; a lost segment splits the archive, and only a backup after it opens the
// next window.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { createArchivingCluster, PgCluster } from '../lib/devstack/pgcluster';
import { freePort } from '../lib/devstack/procs';
import { parseWalName } from '../lib/wal/name';
import type { RecoverableSummary, TimelineWindows } from '../lib/wal/windows';
import { backupWorkflowId, clusterQueue } from '../lib/contracts';

const SEGMENT_SIZE = 16 << 20;
import { catalogQuery } from './support/catalog';
import { TestEnv, waitFor } from './support/env';
import { takeBackup, waitArchived } from './support/pitr';

let env: TestEnv;
let pg: PgCluster;

before(async () => {
  const port = await freePort();
  env = new TestEnv('recoverable', { WALFLOW_PG_URL: `postgres://postgres@127.0.0.1:${port}/postgres` });
  await env.startWorker();
  pg = await createArchivingCluster({
    dir: path.join(env.dir, 'pg'),
    port,
    envFile: env.envFile,
    extraConf: ['track_commit_timestamp = on'],
  });
  await pg.query('CREATE TABLE t (id int)');
});

after(async () => {
  await pg?.stop('immediate');
  await env?.close();
});

/** Commits one row; PostgreSQL's own record of the commit time (track_commit_timestamp). */
async function commit(id: number): Promise<string> {
  const [{ xid }] = await pg.query<{ xid: string }>(
    `WITH w AS (INSERT INTO t VALUES (${id}) RETURNING 1) SELECT pg_current_xact_id()::text AS xid FROM w`,
  );
  const [{ time }] = await pg.query<{ time: string }>(
    'SELECT to_char(pg_xact_commit_timestamp($1::xid) AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\') AS time',
    [xid],
  );
  return time;
}

async function switchArchived(): Promise<string> {
  const segment = await pg.switchWal();
  await waitArchived(env, segment);
  await waitFor(
    `${segment} in the catalog`,
    async () =>
      (
        await catalogQuery(
          env.config.catalogUrl,
          "SELECT 1 FROM wal_files WHERE cluster = 'recoverable' AND name = $1",
          [segment],
        )
      ).length > 0,
    30_000,
  );
  return segment;
}

function windows(): TimelineWindows[] {
  const r = env.walflow(['recoverable', '--json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as TimelineWindows[];
}

test(
  'windows from each backup to the last archived commit; a lost segment splits them',
  { timeout: 400_000 },
  async () => {
    const first = await takeBackup(env);
    const a = await commit(1);
    await pg.query("SELECT pg_create_restore_point('before-b')");
    const b = await commit(2);
    await switchArchived();

    let [tl1] = windows();
    assert.equal(tl1.timeline, 1);
    assert.equal(tl1.windows.length, 1);
    assert.equal(tl1.windows[0].from.backupId, first.backupId);
    assert.equal(tl1.windows[0].from.lsn, first.stopLsn);
    assert.equal(tl1.windows[0].to.lastCommit, b, 'the last archived commit, to the microsecond');
    assert.ok(tl1.windows[0].exact);
    assert.deepEqual(
      tl1.windows[0].restorePoints.map((p) => p.name),
      ['before-b'],
    );
    assert.ok(a < tl1.windows[0].restorePoints[0].time && tl1.windows[0].restorePoints[0].time < b);

    // A segment lost from every store (and so from the catalog) ends the window before it.
    const c = await commit(3);
    const lost = await switchArchived();
    for (const store of env.stores.values()) await store.delete(`recoverable/wal/00000001/${lost}.zst`);
    await catalogQuery(env.config.catalogUrl, "DELETE FROM wal_copies WHERE cluster = 'recoverable' AND name = $1", [
      lost,
    ]);
    await catalogQuery(env.config.catalogUrl, "DELETE FROM wal_files WHERE cluster = 'recoverable' AND name = $1", [
      lost,
    ]);
    await commit(4);
    await switchArchived();
    [tl1] = windows();
    assert.equal(tl1.windows.length, 1, 'WAL after the gap is unreachable without a backup after it');
    assert.equal(tl1.windows[0].to.lastCommit, b);
    assert.ok(tl1.windows[0].to.lastCommit < c);
    assert.deepEqual(tl1.gaps, [{ from: lost, to: lost }]);

    // A backup after the gap opens a second window.
    const second = await takeBackup(env);
    const e = await commit(5);
    await switchArchived();
    [tl1] = windows();
    assert.deepEqual(
      tl1.windows.map((w) => w.from.backupId),
      [first.backupId, second.backupId],
    );
    assert.equal(tl1.windows[1].to.lastCommit, e);
    assert.deepEqual(tl1.windows[1].restorePoints, []);

    const text = env.walflow(['recoverable', '--timeline', '1']);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`from end of backup ${first.backupId} at .* \\(${first.stopLsn}\\)`));
    assert.match(text.stdout, new RegExp(`to   last commit ${b.replace(/\./g, '\\.')}`));
    assert.match(text.stdout, /restore point "before-b" at /);
    assert.match(text.stdout, new RegExp(`gap: ${lost} missing from the archive`));

    // The Web UI memo of a backup and of a verify run says the same in brief.
    const client = await env.client();
    const brief = (memo: unknown) =>
      (memo as { recoverable: RecoverableSummary }).recoverable.timelines.map((t) => [
        t.timeline,
        t.windows,
        t.gaps,
        t.latest?.from,
        t.latest?.lastCommit,
      ]);
    const backupMemo = (await client.workflow.getHandle(backupWorkflowId('recoverable', second.backupId)).describe())
      .memo;
    assert.deepEqual(
      brief(backupMemo).map((t) => t.slice(0, 4)),
      [[1, 2, 1, `backup ${second.backupId}`]],
    );
    const verifyId = 'verify/recoverable/memo';
    await client.workflow.execute('verify', {
      taskQueue: clusterQueue('recoverable'),
      workflowId: verifyId,
      args: [{ cluster: 'recoverable', repair: false }],
    });
    assert.deepEqual(brief((await client.workflow.getHandle(verifyId).describe()).memo), [
      [1, 2, 1, `backup ${second.backupId}`, e],
    ]);

    const bad = env.walflow(['recoverable', '--timeline', 'two']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--timeline two: give a timeline number/);
  },
);

test(
  'a restore refuses an unreachable target before it writes anything, and plans WAL only up to its stop',
  { timeout: 400_000 },
  async () => {
    // The archive now: window 1 ends at commit b, a gap, window 2 from the second backup to e.
    const [tl1] = windows();
    const [w1, w2] = tl1.windows;
    const data = path.join(env.dir, 'refused');
    const refused = (args: string[], message: RegExp) => {
      const r = env.walflow(['restore', ...args, '--pgdata', data, '--wait']);
      assert.notEqual(r.status, 0, r.stdout);
      assert.match(r.stderr, message);
      assert.equal(fs.existsSync(data), false, 'nothing written');
    };
    const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const inGap = new Date(Date.parse(w1.to.lastEvent!) + 1).toISOString();
    refused(
      ['--target-time', inGap],
      new RegExp(
        `target time ${escape(inGap)} is in a gap in the archive: latest reachable on timeline 1: before ` +
          `${escape(w1.to.lastEvent!)} \\(the last archived commit\\); next after the gap: ${escape(w2.from.time!.replace('Z', ''))}\\d*Z ` +
          `\\(end of backup ${w2.from.backupId} on timeline 1\\)`,
      ),
    );
    const late = new Date(Date.parse(w2.to.lastEvent!) + 3_600_000).toISOString();
    refused(['--target-time', late], /is past the last archived WAL: latest reachable on timeline 1: before /);
    refused(['--target-time', '2001-01-01T00:00:00Z'], /is before the end of the oldest backup: earliest reachable: /);
    refused(
      ['--target-name', 'never-made'],
      /restore point "never-made" is in no reachable window; reachable restore points: "before-b"/,
    );
    refused(
      ['--target-xid', '4000000000'],
      /transaction 4000000000 ended in no reachable window; reachable transactions: \d+\.\.\d+ on timeline 1/,
    );
    const [run] = await catalogQuery<{ summary: { phases: { phase: string; state: string }[] } }>(
      env.config.catalogUrl,
      "SELECT summary FROM runs WHERE cluster = 'recoverable' AND kind = 'restore' ORDER BY id DESC LIMIT 1",
    );
    assert.deepEqual(
      run.summary.phases.map((p) => [p.phase, p.state]),
      [['reach', 'failed']],
      'refused before any host or store work',
    );

    // A long archive after the second backup: a time in its middle needs the WAL up to the
    // segment of the first commit after it, and one more, not the rest.
    const segments: string[] = [];
    let middle = '';
    for (let i = 0; i < 8; i++) {
      const at = await commit(100 + i);
      if (i === 2) {
        middle = new Date(Date.parse(at) - 1).toISOString(); // just before commit 102
        await pg.query("SELECT pg_create_restore_point('middle')");
      }
      segments.push(await switchArchived());
    }
    const plan = (args: string[]) => {
      const r = env.walflow(['restore', ...args, '--plan-only', '--wait']);
      assert.equal(r.status, 0, r.stderr);
      const m = /^ {2}plan .* (\d+) WAL file\(s\) {2}timeline 1 \(path 1\), (\w{24}) \.\. (\w{24})$/m.exec(r.stdout);
      assert.ok(m, r.stdout);
      return { count: Number(m[1]), first: m[2], last: m[3] };
    };
    const segno = (name: string) => parseWalName(name, SEGMENT_SIZE)!.segno!;
    const whole = plan([]);
    assert.equal(whole.last, segments[7]);
    const upToMiddle = plan(['--target-time', middle]);
    assert.equal(upToMiddle.first, whole.first);
    // Commit 102 went into segments[2]: the plan ends one segment later, not where the archive does.
    assert.equal(segno(upToMiddle.last), segno(segments[2]) + 1n, `planned ${upToMiddle.first} .. ${upToMiddle.last}`);
    assert.equal(BigInt(whole.count - upToMiddle.count), segno(whole.last) - segno(upToMiddle.last));
    // A restore point: up to the segment that holds it, and one more.
    const upToPoint = plan(['--target-name', 'middle']);
    assert.equal(segno(upToPoint.last), segno(segments[2]) + 1n, `planned ${upToPoint.first} .. ${upToPoint.last}`);
  },
);
