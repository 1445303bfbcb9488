// One isolated walflow environment per measurement on the bench's stack: its own cluster name,
// host id (hence host task queue), spool, stores, env file and worker.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig, Config } from '../../lib/config';
import { chownToPostgres, readPid, ROOT, sleep, startBackground, stopPid } from '../../lib/devstack/procs';
import type { Stack } from '../../lib/devstack/stack';
import { walKey } from '../../lib/keys';
import { SpoolPaths } from '../../lib/spool';
import { openStores } from '../../lib/stores/registry';
import type { Store } from '../../lib/stores/store';
import { parseWalName } from '../../lib/wal/name';
import { msSince, now, timedAsPostgres } from './util';

export const WALFLOW = path.join(ROOT, 'bin', 'walflow');

export class BenchEnv {
  readonly dir: string;
  readonly envFile: string;
  /** Same settings but a separate spool: push fills it while the worker is not looking. */
  readonly stagingEnvFile: string;
  readonly config: Config;
  readonly stores: Map<string, Store>;
  private readonly spool: SpoolPaths;
  private readonly staging: SpoolPaths;

  constructor(
    stack: Stack,
    readonly name: string,
    extraEnv: Record<string, string> = {},
  ) {
    this.dir = path.join(stack.dir, 'env', name);
    const spoolRoot = path.join(this.dir, 'spool');
    const stagingRoot = path.join(this.dir, 'staging');
    for (const d of [this.dir, spoolRoot, stagingRoot]) {
      fs.mkdirSync(d, { recursive: true });
      chownToPostgres(d);
    }
    const env: Record<string, string> = {
      ...stack.env(),
      WALFLOW_CLUSTER: name,
      WALFLOW_HOST_ID: name,
      WALFLOW_SPOOL_DIR: spoolRoot,
      WALFLOW_LOG_LEVEL: 'info',
      ...extraEnv,
    };
    this.envFile = path.join(this.dir, 'walflow.env');
    this.stagingEnvFile = path.join(this.dir, 'staging.env');
    const write = (f: string, e: Record<string, string>) =>
      fs.writeFileSync(
        f,
        Object.entries(e)
          .map(([k, v]) => `${k}=${v}`)
          .join('\n') + '\n',
        { mode: 0o644 },
      );
    write(this.envFile, env);
    write(this.stagingEnvFile, { ...env, WALFLOW_SPOOL_DIR: stagingRoot });
    this.config = loadConfig(env);
    this.stores = openStores(this.config.stores);
    this.spool = new SpoolPaths(spoolRoot, name);
    this.staging = new SpoolPaths(stagingRoot, name);
  }

  private get workerLog() {
    return path.join(this.dir, 'logs', 'worker.log');
  }
  private get workerPid() {
    return path.join(this.dir, 'pids', 'worker.pid');
  }

  /** Starts `walflow worker` as postgres and waits until it polls its task queues. */
  async startWorker(timeoutMs = 120_000): Promise<number> {
    const t0 = now();
    const logFile = this.workerLog;
    const offset = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
    startBackground({
      name: `worker-${this.name}`,
      cmd: WALFLOW,
      logFile,
      pidFile: this.workerPid,
      args: ['worker', '--env-file', this.envFile],
      asPostgres: true,
      // e.g. BENCH_WORKER_NODE_OPTIONS='--cpu-prof --cpu-prof-dir=/tmp/prof' to see where a worker spends its time
      env: process.env.BENCH_WORKER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_WORKER_NODE_OPTIONS } : {},
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const text = fs.readFileSync(logFile, 'utf8').slice(offset);
      if (text.includes('"msg":"worker running"')) return msSince(t0);
      if (!readPid(this.workerPid))
        throw new Error(`worker ${this.name} exited during start; see ${logFile}:\n${text.slice(-2000)}`);
      await sleep(50);
    }
    throw new Error(`worker ${this.name} did not start polling within ${timeoutMs / 1000}s; see ${logFile}`);
  }

  get workerPidNumber(): number | undefined {
    return readPid(this.workerPid);
  }

  async stopWorker(): Promise<void> {
    await stopPid(this.workerPid, 30_000);
  }

  /** `walflow push <path> <name>` as PostgreSQL runs it (postgres user, clean env), timed. */
  push(file: string, envFile = this.stagingEnvFile): number {
    const { ms, r } = timedAsPostgres(WALFLOW, ['push', file, path.basename(file), '--env-file', envFile]);
    if (r.status !== 0) throw new Error(`walflow push ${file} failed (${r.status}): ${r.stderr}`);
    return ms;
  }

  /** Waiting files in the live spool. */
  waiting(): number {
    return this.waitingNames().length;
  }

  waitingNames(): string[] {
    try {
      return fs.readdirSync(this.spool.walDir).filter((n) => parseWalName(n));
    } catch {
      return [];
    }
  }

  /**
   * Moves every staged file into the live spool at once (renames on one file system, as fast as
   * push's own final link), so the running worker sees a spool full of segments. Returns the
   * hrtime at which the first file appeared.
   */
  releaseStaging(): { t0: bigint; count: number } {
    fs.mkdirSync(this.spool.walDir, { recursive: true });
    chownToPostgres(this.spool.dir, this.spool.walDir);
    if (fs.existsSync(this.staging.systemIdFile) && !fs.existsSync(this.spool.systemIdFile)) {
      fs.copyFileSync(this.staging.systemIdFile, this.spool.systemIdFile);
      chownToPostgres(this.spool.systemIdFile);
    }
    const names = fs
      .readdirSync(this.staging.walDir)
      .filter((n) => parseWalName(n))
      .sort();
    const t0 = now();
    for (const n of names) fs.renameSync(this.staging.wal(n), this.spool.wal(n));
    return { t0, count: names.length };
  }

  /** Polls every few ms until the spool is empty (each copy goes only once every store holds it). */
  async waitDrained(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.waiting() > 0) {
      if (Date.now() > deadline)
        throw new Error(
          `${this.name}: ${this.waiting()} files still in the spool after ${timeoutMs / 1000}s; see ${this.workerLog}`,
        );
      await sleep(5);
    }
  }

  /** Number of compressed WAL segments each store holds for this cluster. */
  async storeCounts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const [name, store] of this.stores) {
      let n = 0;
      for await (const o of store.list(`${this.name}/wal/`)) if (/\/[0-9A-F]{24}\.zst$/.test(o.key)) n++;
      out[name] = n;
    }
    return out;
  }

  /** Store key of a segment with the default codec. */
  key(segment: string): string {
    return walKey(this.name, parseWalName(segment)!, '.zst');
  }
}
