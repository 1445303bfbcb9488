// A TestEnv whose worker can reach its own archiving PostgreSQL (WALFLOW_PG_URL), as base
// backups need; plus helpers shared by the backup and restore tests.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createArchivingCluster, PgCluster } from '../../lib/devstack/pgcluster';
import { chownToPostgres, freePort } from '../../lib/devstack/procs';
import type { ClusterLayout } from '../../lib/devstack/stack';
import type { BackupManifest } from '../../lib/contracts';
import { TestEnv, waitFor } from './env';

/** extraEnv may depend on the port the cluster will listen on, for a WALFLOW_PG_URL of its own. */
export async function pitrEnv(
  name: string,
  extraEnv: Record<string, string> | ((port: number) => Record<string, string>) = {},
  cluster: { layout?: ClusterLayout; extraConf?: string[] } = {},
): Promise<{ env: TestEnv; pg: PgCluster }> {
  const port = await freePort();
  const env = new TestEnv(name, {
    WALFLOW_PG_URL: `postgres://postgres@127.0.0.1:${port}/postgres`,
    ...(typeof extraEnv === 'function' ? extraEnv(port) : extraEnv),
  });
  await env.startWorker();
  const pg = await createArchivingCluster({ dir: path.join(env.dir, 'pg'), port, envFile: env.envFile, ...cluster });
  return { env, pg };
}

/** `walflow backup --wait`, as an operator would run it; returns the newest complete backup's manifest. */
export async function takeBackup(env: TestEnv): Promise<BackupManifest> {
  const r = env.walflow(['backup', '--wait']);
  if (r.status !== 0) throw new Error(`walflow backup failed (${r.status}): ${r.stderr}`);
  const list = JSON.parse(env.walflow(['backups', '--json']).stdout) as { backupId: string; status: string }[];
  const newest = list.find((b) => b.status === 'complete');
  if (!newest) throw new Error(`no complete backup listed: ${JSON.stringify(list)}`);
  const key = `${env.config.cluster}/backups/${newest.backupId}/manifest.json`;
  return JSON.parse((await env.stores.get('r2')!.get(key)).toString()) as BackupManifest;
}

/** Waits until every store holds the given WAL segment of this env's cluster. */
export async function waitArchived(env: TestEnv, segment: string, timeoutMs = 90_000): Promise<void> {
  const key = `${env.config.cluster}/wal/${segment.slice(0, 8)}/${segment}.zst`;
  for (const store of env.stores.keys()) {
    await waitFor(
      `${segment} in ${store}`,
      async () => (await env.stores.get(store)!.head(key)) !== undefined,
      timeoutMs,
    );
  }
  // An object is listed before its upload has read it back; a test that damages it in between
  // would see the upload retried and the object back. The spool copy goes only after every
  // store's copy is read back, whether the file went alone or in a batch.
  await waitFor(`${segment} gone from the spool`, () => !env.spoolFiles().includes(segment), timeoutMs);
}

/** `walflow restore ... --wait` as postgres; returns the exit status and output. */
export function runRestore(env: TestEnv, args: string[]): { status: number; stdout: string; stderr: string } {
  return env.walflow(['restore', ...args, '--wait']);
}

/** A restored cluster, started by the restore, to query and stop. */
export function restoredCluster(env: TestEnv, data: string, port: number): PgCluster {
  return new PgCluster(data, port, path.join(env.dir, 'pg', 'run'), path.join(env.dir, 'restored.log'));
}

/**
 * `walflow restore <args> --pgdata <dir>/data --start --port <a free one> --wait`: its outcome,
 * and the restored cluster to query and stop, pushed onto `started` (when given) before the
 * outcome is known, so that a failing test still stops whatever the restore started.
 */
export async function restoreAndStart(
  env: TestEnv,
  dir: string,
  args: string[] = [],
  started?: PgCluster[],
): Promise<{ status: number; stdout: string; stderr: string; cluster: PgCluster }> {
  fs.mkdirSync(dir, { recursive: true });
  chownToPostgres(dir);
  const port = await freePort();
  const data = path.join(dir, 'data');
  const r = runRestore(env, [...args, '--pgdata', data, '--start', '--port', String(port)]);
  const cluster = restoredCluster(env, data, port);
  started?.push(cluster);
  return { ...r, cluster };
}

/** Rows in table t, the table the backup and restore tests fill. */
export async function rowsInT(c: PgCluster): Promise<number> {
  return (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM t'))[0].n;
}

/** Flips bytes in the middle of an object as a versitygw store holds it on disk (bit rot). */
export function corruptInStore(env: TestEnv, store: 'r2' | 'b2', key: string): void {
  const file = path.join(env.stack.s3Dir(store), 'data', 'walflow', 'walflow', key);
  const fd = fs.openSync(file, 'r+');
  try {
    const size = fs.fstatSync(fd).size;
    const pos = Math.floor(size / 2);
    const b = Buffer.alloc(Math.min(64, size - pos));
    fs.readSync(fd, b, 0, b.length, pos);
    for (let i = 0; i < b.length; i++) b[i] ^= 0xff;
    fs.writeSync(fd, b, 0, b.length, pos);
  } finally {
    fs.closeSync(fd);
  }
}
