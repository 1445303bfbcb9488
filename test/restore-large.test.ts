// A restore of a backup big enough to take a while: a worker killed in the middle of the
// download resumes after the last finished chunk instead of starting over, and the worker
// keeps heartbeating (and answering queries) while pg_verifybackup checks the data.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { PgCluster } from '../lib/devstack/pgcluster';
import { chownToPostgres, freePort, sleep } from '../lib/devstack/procs';
import { BackupManifest, RESTORE_PROGRESS_QUERY, RestoreInput, RestoreProgress, clusterQueue } from '../lib/contracts';
import { TestEnv, waitFor } from './support/env';
import { pitrEnv, restoredCluster, takeBackup } from './support/pitr';

let env: TestEnv;
let pg: PgCluster;
let backup: BackupManifest;
const restored: PgCluster[] = [];

/**
 * Files in the data folder stand in for big tables: pg_basebackup sends them and lists them in
 * backup_manifest, pg_verifybackup checks them, and they cost no WAL to make. Zeros compress
 * to almost nothing, so the stores stay small while the download still unpacks every byte.
 * A download resumes at a file boundary, so the files are smaller than a chunk.
 */
const BALLAST = 'walflow_test_ballast';
const BALLAST_FILES = 64;
const BALLAST_FILE_BYTES = 16 << 20;

function ballastBytes(pgdata: string): number {
  return fs
    .readdirSync(path.join(pgdata, BALLAST))
    .reduce((sum, f) => sum + fs.statSync(path.join(pgdata, BALLAST, f)).size, 0);
}

before(async () => {
  ({ env, pg } = await pitrEnv('restore-large'));
  await pg.query('CREATE TABLE t (id int PRIMARY KEY, payload text NOT NULL)');
  await pg.query('INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 100000) AS i');
  const ballast = path.join(pg.data, BALLAST);
  fs.mkdirSync(ballast, { mode: 0o700 });
  chownToPostgres(ballast);
  const zeros = Buffer.alloc(BALLAST_FILE_BYTES);
  for (let i = 0; i < BALLAST_FILES; i++) {
    fs.writeFileSync(path.join(ballast, String(i)), zeros, { mode: 0o600 });
    chownToPostgres(path.join(ballast, String(i)));
  }
  backup = await takeBackup(env);
  assert.ok(backup.files.length >= 10, `a backup of many chunks: ${backup.files.length}`);
});

after(async () => {
  for (const r of restored) await r.stop('immediate').catch(() => undefined);
  await pg?.stop('immediate');
  await env?.close();
});

interface Beat {
  phase?: string;
  step?: string;
  chunks?: number;
  totalChunks?: number;
  verifySeconds?: number;
  resume?: { chunk: number; offset: number };
}

/** The heartbeat details the server holds for the restore's running activity of this type. */
async function serverBeat(handle: WorkflowHandle, activity: string): Promise<(Beat & { attempt: number }) | undefined> {
  const d = await handle.describe();
  const pending = d.raw.pendingActivities?.find((a) => a.activityType?.name === activity);
  const payload = pending?.heartbeatDetails?.payloads?.[0];
  if (!pending || !payload) return undefined;
  return { ...defaultPayloadConverter.fromPayload<Beat>(payload), attempt: pending.attempt ?? 1 };
}

let n = 0;
async function startRestore(input: Omit<RestoreInput, 'pgdata'>): Promise<{ handle: WorkflowHandle; pgdata: string }> {
  const pgdata = path.join(env.dir, `restored-${++n}`, 'data');
  fs.mkdirSync(path.dirname(pgdata), { recursive: true });
  chownToPostgres(path.dirname(pgdata));
  const handle = await (
    await env.client()
  ).workflow.start('restore', {
    taskQueue: clusterQueue(env.config.cluster),
    workflowId: `restore/restore-large/test-${n}-${Date.now()}`,
    args: [{ cluster: env.config.cluster, hostId: env.config.hostId, ...input, pgdata }],
  });
  return { handle, pgdata };
}

async function checkData(c: PgCluster, pgdata: string): Promise<void> {
  const [r] = await c.query<{ n: number; sum: string }>(
    "SELECT count(*)::int AS n, md5(string_agg(payload, ',' ORDER BY id)) AS sum FROM t",
  );
  const [s] = await pg.query<{ n: number; sum: string }>(
    "SELECT count(*)::int AS n, md5(string_agg(payload, ',' ORDER BY id)) AS sum FROM t",
  );
  assert.deepEqual(r, s);
  assert.equal(ballastBytes(pgdata), BALLAST_FILES * BALLAST_FILE_BYTES);
}

test(
  'worker killed in the middle of the download: the retried download resumes after the last finished chunk',
  { timeout: 300_000 },
  async (t) => {
    const port = await freePort();
    const { handle, pgdata } = await startRestore({ immediate: true, start: true, port });
    const killedAt = (await waitFor(
      'a download heartbeat past the first chunks',
      async () => {
        const b = await serverBeat(handle, 'downloadBackup');
        return b && b.phase === 'download' && (b.chunks ?? 0) >= 2 && (b.chunks ?? 0) < backup.files.length - 2
          ? b
          : undefined;
      },
      120_000,
      100,
    ))!;
    env.killWorker();
    await env.startWorker();
    const result = (await handle.result()) as RestoreProgress;
    const download = result.phases.find((p) => p.phase === 'download')!;
    const resumed = /resumed at chunk (\d+)/.exec(download.detail ?? '');
    assert.ok(
      resumed,
      `the download says where it resumed: ${download.detail} (killed at ${JSON.stringify(killedAt)})`,
    );
    assert.ok(Number(resumed[1]) > 0, `resumed after chunk 0: ${download.detail}`);
    t.diagnostic(`killed at chunk ${killedAt.chunks} of ${backup.files.length}; download: ${download.detail}`);
    assert.match(fs.readFileSync(env.workerLog, 'utf8'), /"msg":"backup download resumed"/);
    const c = restoredCluster(env, pgdata, port);
    restored.push(c);
    await checkData(c, pgdata);
  },
);

/** The pid of the pg_verifybackup that checks `pgdata`, once it runs. */
function verifyPid(pgdata: string): number | undefined {
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (argv[0].endsWith('pg_verifybackup') && argv.includes(pgdata)) return Number(p);
    } catch {
      /* gone */
    }
  }
  return undefined;
}

test('heartbeats keep coming and queries are answered while pg_verifybackup runs', { timeout: 240_000 }, async (t) => {
  const { handle, pgdata } = await startRestore({ immediate: true });
  // Checking a multi-TiB backup takes hours; this one takes a second. Holding the real
  // pg_verifybackup stopped for a while stands in for the long check.
  const pid = (await waitFor('pg_verifybackup running', () => verifyPid(pgdata), 180_000, 5))!;
  process.kill(pid, 'SIGSTOP');
  const beats: Beat[] = [];
  const queryMs: number[] = [];
  try {
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      const b = await serverBeat(handle, 'downloadBackup');
      if (b?.step === 'verify') beats.push(b);
      const t0 = Date.now();
      const answered = await handle.query<RestoreProgress>(RESTORE_PROGRESS_QUERY).then(
        () => true,
        () => false,
      );
      queryMs.push(answered ? Date.now() - t0 : Infinity);
      await sleep(250);
    }
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  const seconds = [...new Set(beats.map((b) => b.verifySeconds))];
  assert.ok(
    seconds.length >= 2,
    `the verify heartbeat advances while pg_verifybackup runs: ${JSON.stringify(beats.slice(-3))}`,
  );
  assert.ok(
    seconds.every((s, i) => i === 0 || s! > seconds[i - 1]!),
    `running time grows: ${seconds.join(', ')}`,
  );
  assert.ok(Math.max(...queryMs) < 5_000, `the worker answers queries meanwhile: ${Math.max(...queryMs)} ms at most`);
  t.diagnostic(`verify heartbeats at ${seconds.join(', ')} s; slowest query ${Math.max(...queryMs)} ms`);
  const result = (await handle.result()) as RestoreProgress;
  assert.equal(result.phase, 'ready to start');
  assert.equal(ballastBytes(pgdata), BALLAST_FILES * BALLAST_FILE_BYTES);
});
