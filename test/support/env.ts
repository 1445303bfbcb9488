// One isolated walflow environment per test file on the shared test stack: its own cluster
// name, host id (so its own host task queue), spool, env file, worker and source PostgreSQL.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { loadConfig, Config } from '../../lib/config';
import { PgCluster, createArchivingCluster } from '../../lib/devstack/pgcluster';
import { chownToPostgres, freePort, ROOT, sleep, stopPid } from '../../lib/devstack/procs';
import { openStack, Stack, startWorker } from '../../lib/devstack/stack';
import { openStores } from '../../lib/stores/registry';
import type { Store } from '../../lib/stores/store';

export class TestEnv {
  readonly stack: Stack;
  readonly dir: string;
  readonly envFile: string;
  readonly config: Config;
  readonly stores: Map<string, Store>;
  private connection?: Promise<Connection>;

  constructor(
    readonly name: string,
    extraEnv: Record<string, string> = {},
  ) {
    const stackDir = process.env.WALFLOW_TEST_STACK;
    if (!stackDir) throw new Error('WALFLOW_TEST_STACK is not set: run the end-to-end tests with `npm test`');
    this.stack = openStack(stackDir);
    this.dir = path.join(stackDir, 'env', name);
    fs.mkdirSync(path.join(this.dir, 'spool'), { recursive: true });
    chownToPostgres(path.join(this.dir), path.join(this.dir, 'spool'));
    this.envFile = path.join(this.dir, 'walflow.env');
    const env = {
      ...this.stack.env(),
      WALFLOW_CLUSTER: name,
      WALFLOW_HOST_ID: name,
      WALFLOW_SPOOL_DIR: path.join(this.dir, 'spool'),
      WALFLOW_LOG_LEVEL: 'debug',
      ...extraEnv,
    };
    fs.writeFileSync(
      this.envFile,
      Object.entries(env)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n') + '\n',
      { mode: 0o644 },
    );
    this.config = loadConfig(env);
    this.stores = openStores(this.config.stores);
  }

  get spoolDir() {
    return path.join(this.config.spoolDir, this.config.cluster);
  }
  get workerLog() {
    return path.join(this.dir, 'logs', 'worker.log');
  }
  private get workerPid() {
    return path.join(this.dir, 'pids', 'worker.pid');
  }

  /** Starts this env's worker (from another installation: `root`) and waits until it polls its task queues. */
  async startWorker(root?: string): Promise<void> {
    await startWorker(this.envFile, this.workerLog, this.workerPid, undefined, root);
  }

  /** The pid of this env's running worker. */
  get workerProcess(): number {
    return Number(fs.readFileSync(this.workerPid, 'utf8'));
  }

  async stopWorker(): Promise<void> {
    await stopPid(this.workerPid, 30_000);
  }

  killWorker(): void {
    process.kill(this.workerProcess, 'SIGKILL');
  }

  async createCluster(extraConf: string[] = [], dirName = 'pg'): Promise<PgCluster> {
    return createArchivingCluster({
      dir: path.join(this.dir, dirName),
      port: await freePort(),
      envFile: this.envFile,
      extraConf,
    });
  }

  /** Runs the walflow command as the postgres user, as PostgreSQL would. */
  walflow(args: string[], opts: { asRoot?: boolean } = {}): { status: number; stdout: string; stderr: string } {
    const withEnv = args.some((a) => a.startsWith('--env-file')) ? args : [...args, '--env-file', this.envFile];
    const r = spawnSync(path.join(ROOT, 'bin', 'walflow'), withEnv, {
      cwd: '/',
      encoding: 'utf8',
      env: bareEnv(),
      ...(opts.asRoot || process.getuid?.() !== 0 ? {} : { uid: uidOf('postgres'), gid: gidOf('postgres') }),
    });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** A client on one connection the environment keeps and closes. */
  async client(): Promise<Client> {
    this.connection ??= Connection.connect({ address: this.config.temporalAddress }).catch((e: unknown) => {
      this.connection = undefined;
      throw e;
    });
    return new Client({ connection: await this.connection, namespace: this.config.temporalNamespace });
  }

  /** Deletes this cluster's Schedules, so that none outlives its test file. */
  async deleteSchedules(): Promise<void> {
    const client = await this.client();
    for await (const s of client.schedule.list())
      if (s.scheduleId.split('/')[1] === this.config.cluster) await client.schedule.getHandle(s.scheduleId).delete();
  }

  /** Keys of WAL objects for this cluster in a store. */
  async walKeys(store: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const o of this.stores.get(store)!.list(`${this.config.cluster}/wal/`)) keys.push(o.key);
    return keys.sort();
  }

  spoolFiles(): string[] {
    try {
      return fs.readdirSync(path.join(this.spoolDir, 'wal')).sort();
    } catch {
      return [];
    }
  }

  async close(): Promise<void> {
    await this.stopWorker().catch(() => undefined);
    await (await this.connection?.catch(() => undefined))?.close().catch(() => undefined);
  }
}

/**
 * The bare environment PostgreSQL gives archive_command and restore_command, keeping the one
 * setting through which `npm run coverage` collects the coverage of the commands run with it.
 */
export function bareEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const coverage = process.env.NODE_V8_COVERAGE;
  return { PATH: '/usr/bin:/bin', ...(coverage ? { NODE_V8_COVERAGE: coverage } : {}), ...extra };
}

function uidOf(user: string): number {
  return Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout.trim());
}
function gidOf(user: string): number {
  return Number(spawnSync('id', ['-g', user], { encoding: 'utf8' }).stdout.trim());
}

/** Polls until `check` returns a truthy value; fails with `what` and the last value after the timeout. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T> | T,
  timeoutMs = 60_000,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what} (last: ${JSON.stringify(last)})`);
}
