// The embedded local stack (`walflow dev up|down|env`, tests, demo, bench): a Temporal dev
// server with its Web UI, two S3-compatible servers standing in for r2 and b2, a catalog
// PostgreSQL and a walflow worker, as background processes under one folder.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { UserError } from '../errors';
import {
  chownToPostgres,
  freePort,
  pgBin,
  pgBinDirs,
  portIfFree,
  postgresUser,
  readPid,
  ROOT,
  sleep,
  startBackground,
  stopPid,
  TOOLS,
  waitForPort,
} from './procs';
import { SEARCH_ATTRIBUTES } from '../workflowstart';

export const COMPONENTS = ['temporal', 'r2', 'b2', 'catalog', 'worker'] as const;
export type Component = (typeof COMPONENTS)[number];

const S3_KEY = 'walflow-dev';
const S3_SECRET = 'walflow-dev-secret';
const BUCKET = 'walflow';
const REGIONS: Record<'r2' | 'b2', string> = { r2: 'auto', b2: 'us-west-004' };
/** The `temporal` CLI's defaults: a stack there needs no --address. */
export const TEMPORAL_PORT = 7233;
export const TEMPORAL_UI_PORT = 8233;

interface StackState {
  /** pg: the port reserved for the demo's archiving PostgreSQL (WALFLOW_PG_URL). */
  ports: { temporal: number; ui: number; r2: number; b2: number; catalog: number; pg: number };
  cluster: string;
  hostId: string;
  extraEnv: Record<string, string>;
  /** The S3 servers speak HTTPS with a self-signed certificate (the bench: pgBackRest's S3 driver needs TLS). */
  tls?: boolean;
}

export interface StackOptions {
  dir: string;
  cluster?: string;
  hostId?: string;
  /** Settings added to dev.env (e.g. short alert thresholds in tests). */
  extraEnv?: Record<string, string>;
  /** Start the worker too (default true). */
  worker?: boolean;
  /**
   * Temporal on TEMPORAL_PORT and its Web UI on TEMPORAL_UI_PORT when they are free (the stack a
   * person uses); otherwise, as tests and benchmarks want, free ports that never collide with it.
   */
  familiarPorts?: boolean;
  /** Serve S3 over HTTPS with a certificate made here; walflow trusts it through each store's CA_FILE. */
  tls?: boolean;
}

export class Stack {
  constructor(
    readonly dir: string,
    readonly state: StackState,
  ) {}
  get envFile() {
    return path.join(this.dir, 'dev.env');
  }
  get spoolDir() {
    return path.join(this.dir, 'spool');
  }
  get uiUrl() {
    return `http://127.0.0.1:${this.state.ports.ui}`;
  }
  get logDir() {
    return path.join(this.dir, 'logs');
  }
  log(c: string) {
    return path.join(this.logDir, `${c}.log`);
  }
  pidFile(c: string) {
    return path.join(this.dir, 'pids', `${c}.pid`);
  }
  s3Dir(c: 'r2' | 'b2') {
    return path.join(this.dir, `s3-${c}`);
  }
  get catalogData() {
    return path.join(this.dir, 'catalog');
  }
  get runDir() {
    return path.join(this.dir, 'run');
  }
  /** The S3 servers' self-signed certificate (PEM), when the stack serves TLS. */
  get tlsCert() {
    return path.join(this.dir, 'tls', 'cert.pem');
  }
  get tlsKey() {
    return path.join(this.dir, 'tls', 'key.pem');
  }
  s3Endpoint(c: 'r2' | 'b2') {
    return `${this.state.tls ? 'https' : 'http'}://127.0.0.1:${this.state.ports[c]}`;
  }

  env(): Record<string, string> {
    const { ports, cluster, hostId, extraEnv } = this.state;
    const store = (n: 'r2' | 'b2') => ({
      [`WALFLOW_STORE_${n.toUpperCase()}_TYPE`]: 's3',
      [`WALFLOW_STORE_${n.toUpperCase()}_ENDPOINT`]: this.s3Endpoint(n),
      [`WALFLOW_STORE_${n.toUpperCase()}_REGION`]: REGIONS[n],
      [`WALFLOW_STORE_${n.toUpperCase()}_BUCKET`]: BUCKET,
      [`WALFLOW_STORE_${n.toUpperCase()}_PREFIX`]: 'walflow',
      [`WALFLOW_STORE_${n.toUpperCase()}_ACCESS_KEY_ID`]: S3_KEY,
      [`WALFLOW_STORE_${n.toUpperCase()}_SECRET_ACCESS_KEY`]: S3_SECRET,
      [`WALFLOW_STORE_${n.toUpperCase()}_FORCE_PATH_STYLE`]: 'true',
      [`WALFLOW_STORE_${n.toUpperCase()}_REQUEST_TIMEOUT`]: '20s',
      ...(this.state.tls ? { [`WALFLOW_STORE_${n.toUpperCase()}_CA_FILE`]: this.tlsCert } : {}),
    });
    return {
      TEMPORAL_ADDRESS: `127.0.0.1:${ports.temporal}`,
      TEMPORAL_NAMESPACE: 'default',
      WALFLOW_CLUSTER: cluster,
      WALFLOW_HOST_ID: hostId,
      WALFLOW_SPOOL_DIR: this.spoolDir,
      WALFLOW_CATALOG_URL: `postgres://postgres@127.0.0.1:${ports.catalog}/postgres`,
      WALFLOW_PG_URL: `postgres://postgres@127.0.0.1:${ports.pg}/postgres`,
      WALFLOW_STORES: 'r2,b2',
      ...store('r2'),
      ...store('b2'),
      // Backups and restores of a cluster of any version this machine has find its binaries.
      WALFLOW_PG_BINDIR: pgBinDirs().join(':'),
      WALFLOW_DEV_DIR: this.dir,
      WALFLOW_TEMPORAL_UI: this.uiUrl,
      ...extraEnv,
    };
  }

  writeEnvFile(): void {
    const lines = Object.entries(this.env()).map(([k, v]) => `${k}=${v}`);
    fs.writeFileSync(
      this.envFile,
      `# written by 'walflow dev up': use with 'source' or '--env-file'\n${lines.join('\n')}\n`,
      { mode: 0o644 },
    );
  }

  running(c: Component): boolean {
    if (c === 'catalog') return readPidFromPostmaster(this.catalogData) !== undefined;
    return readPid(this.pidFile(c)) !== undefined;
  }

  async start(c: Component): Promise<void> {
    if (this.running(c)) return;
    const { ports } = this.state;
    switch (c) {
      case 'temporal':
        startBackground({
          name: c,
          cmd: path.join(TOOLS, 'bin', 'temporal'),
          logFile: this.log(c),
          pidFile: this.pidFile(c),
          args: [
            'server',
            'start-dev',
            '--ip',
            '127.0.0.1',
            '--port',
            String(ports.temporal),
            '--ui-port',
            String(ports.ui),
            '--db-filename',
            path.join(this.dir, 'temporal.db'),
            '--log-level',
            'warn',
            ...Object.values(SEARCH_ATTRIBUTES).flatMap((a) => ['--search-attribute', `${a.name}=Keyword`]),
          ],
        });
        await waitForPort(ports.temporal, 'Temporal', this.log(c));
        await waitForPort(ports.ui, 'Temporal Web UI', this.log(c));
        return;
      case 'r2':
      case 'b2': {
        const data = path.join(this.s3Dir(c), 'data');
        const meta = path.join(this.s3Dir(c), 'meta');
        fs.mkdirSync(data, { recursive: true });
        fs.mkdirSync(meta, { recursive: true });
        const tls = this.state.tls ? ['--cert', this.tlsCert, '--key', this.tlsKey] : [];
        startBackground({
          name: c,
          cmd: path.join(TOOLS, 'bin', 'versitygw'),
          logFile: this.log(c),
          pidFile: this.pidFile(c),
          env: { ROOT_ACCESS_KEY: S3_KEY, ROOT_SECRET_KEY: S3_SECRET },
          args: ['--port', `127.0.0.1:${ports[c]}`, '--region', REGIONS[c], ...tls, 'posix', '--sidecar', meta, data],
        });
        await waitForPort(ports[c], `S3 server ${c}`, this.log(c));
        await createBucket(this.s3Endpoint(c), REGIONS[c], this.state.tls ? this.tlsCert : undefined);
        return;
      }
      case 'catalog':
        await startPostgres(this.catalogData, ports.catalog, this.runDir, this.log(c));
        return;
      case 'worker':
        fs.mkdirSync(this.spoolDir, { recursive: true });
        chownToPostgres(this.spoolDir);
        await startWorker(this.envFile, this.log(c), this.pidFile(c));
        return;
    }
  }

  async stop(c: Component): Promise<boolean> {
    if (c === 'catalog') return stopPostgres(this.catalogData);
    return stopPid(this.pidFile(c), c === 'worker' ? 30_000 : 10_000);
  }
}

/**
 * Starts `walflow worker` as postgres and waits until it polls its task queues. `root`: the
 * installation to run it from (another build of walflow, in upgrade tests).
 */
export async function startWorker(
  envFile: string,
  logFile: string,
  pidFile: string,
  timeoutMs = 120_000,
  root = ROOT,
): Promise<void> {
  const offset = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
  const pid = startBackground({
    name: 'worker',
    cmd: path.join(root, 'bin', 'walflow'),
    logFile,
    pidFile,
    args: ['worker', '--env-file', envFile],
    asPostgres: true,
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const fd = fs.openSync(logFile, 'r');
    const text = fs.readFileSync(fd, 'utf8').slice(offset);
    fs.closeSync(fd);
    if (text.includes('"msg":"worker running"')) return;
    if (!readPid(pidFile))
      throw new Error(`worker (pid ${pid}) exited during start; see ${logFile}:\n${text.slice(-2000)}`);
    await sleep(100);
  }
  throw new Error(`worker did not start polling within ${timeoutMs / 1000}s; see ${logFile}`);
}

/** A self-signed certificate for 127.0.0.1 that both S3 servers serve; made once per stack. */
async function makeCertificate(cert: string, key: string): Promise<void> {
  if (fs.existsSync(cert)) return;
  fs.mkdirSync(path.dirname(cert), { recursive: true, mode: 0o755 });
  // The address as a DNS name too: pgBackRest matches DNS names only, Node IP addresses only.
  // prettier-ignore
  await promisify(execFile)('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:127.0.0.1', '-keyout', key, '-out', cert,
  ]);
  fs.chmodSync(cert, 0o644); // the worker, running as postgres, reads it
}

async function createBucket(endpoint: string, region: string, caFile?: string): Promise<void> {
  const s3 = new S3Client({
    endpoint,
    region,
    ...(caFile ? { requestHandler: { httpsAgent: new https.Agent({ ca: fs.readFileSync(caFile) }) } } : {}),
    forcePathStyle: true,
    credentials: { accessKeyId: S3_KEY, secretAccessKey: S3_SECRET },
  });
  try {
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  } catch (e) {
    const name = (e as Error).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw e;
  } finally {
    s3.destroy();
  }
}

function readPidFromPostmaster(data: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** Asynchronous, so that a worker or test in this process keeps running while pg_ctl waits. */
async function asPostgres(cmd: string, args: string[]): Promise<void> {
  const user = postgresUser();
  await promisify(execFile)(cmd, args, {
    cwd: '/',
    ...(user ?? {}),
    env: { ...process.env, HOME: '/var/lib/postgresql' },
  });
}

/** How a test cluster is laid out: initdb options, where its WAL starts, where its configuration lives. */
export interface ClusterLayout {
  initdbArgs?: string[];
  /** pg_resetwal -l before the first start, e.g. to cross an xlog id boundary within a few segments. */
  firstWal?: string;
  /** Debian's layout: postgresql.conf, pg_hba.conf and pg_ident.conf here, none in the data folder. */
  configDir?: string;
}

const CONFIG_FILES = ['postgresql.conf', 'pg_hba.conf', 'pg_ident.conf'];

/** A PostgreSQL cluster for the catalog: trust auth on loopback only. */
export async function startPostgres(
  data: string,
  port: number,
  runDir: string,
  logFile: string,
  conf: string[] = [],
  layout: ClusterLayout = {},
): Promise<void> {
  fs.mkdirSync(runDir, { recursive: true });
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  chownToPostgres(runDir, path.dirname(logFile));
  const { configDir } = layout;
  if (!fs.existsSync(path.join(data, 'PG_VERSION'))) {
    fs.mkdirSync(data, { recursive: true, mode: 0o700 });
    chownToPostgres(data);
    await asPostgres(pgBin('initdb'), [
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--no-instructions',
      ...(layout.initdbArgs ?? []),
    ]);
    fs.appendFileSync(
      path.join(data, 'postgresql.conf'),
      [`port = ${port}`, `listen_addresses = '127.0.0.1'`, `unix_socket_directories = '${runDir}'`, ...conf].join(
        '\n',
      ) + '\n',
    );
    if (layout.firstWal) await asPostgres(pgBin('pg_resetwal'), ['-l', layout.firstWal, '-D', data]);
    if (configDir) {
      fs.mkdirSync(configDir, { recursive: true });
      for (const f of CONFIG_FILES) fs.renameSync(path.join(data, f), path.join(configDir, f));
      fs.appendFileSync(
        path.join(configDir, 'postgresql.conf'),
        `hba_file = '${configDir}/pg_hba.conf'\nident_file = '${configDir}/pg_ident.conf'\n`,
      );
    }
  }
  if (readPidFromPostmaster(data)) return;
  if (!fs.existsSync(logFile)) {
    fs.writeFileSync(logFile, '');
    chownToPostgres(logFile);
  }
  const options = configDir ? ['-o', `-c config_file=${configDir}/postgresql.conf`] : [];
  await asPostgres(pgBin('pg_ctl'), ['-D', data, '-l', logFile, '-w', '-t', '60', ...options, 'start']);
  await waitForPort(port, `PostgreSQL in ${data}`, logFile);
}

export async function stopPostgres(data: string, mode: 'fast' | 'immediate' = 'fast'): Promise<boolean> {
  if (!readPidFromPostmaster(data)) return false;
  await asPostgres(pgBin('pg_ctl'), ['-D', data, '-m', mode, '-w', 'stop']);
  return true;
}

function listDirs(dir: string): string[] {
  try {
    return fs.readdirSync(dir).map((d) => path.join(dir, d));
  } catch {
    return [];
  }
}

function loadState(dir: string, o: StackOptions): Promise<StackState> | StackState {
  const file = path.join(dir, 'stack.json');
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')) as StackState;
  return (async () => {
    const ports = {
      temporal: o.familiarPorts ? await portIfFree(TEMPORAL_PORT) : await freePort(),
      ui: o.familiarPorts ? await portIfFree(TEMPORAL_UI_PORT) : await freePort(),
      r2: await freePort(),
      b2: await freePort(),
      catalog: await freePort(),
      pg: await freePort(),
    };
    const state: StackState = {
      ports,
      cluster: o.cluster ?? 'demo',
      hostId: o.hostId ?? 'local',
      extraEnv: o.extraEnv ?? {},
      tls: o.tls,
    };
    fs.writeFileSync(file, JSON.stringify(state, null, 2));
    return state;
  })();
}

export function openStack(dir: string): Stack {
  const file = path.join(dir, 'stack.json');
  if (!fs.existsSync(file)) throw new UserError(`no local stack in ${dir}; run 'walflow dev up' first`);
  return new Stack(dir, JSON.parse(fs.readFileSync(file, 'utf8')) as StackState);
}

/** Idempotent: starts whatever is not running yet. */
export async function stackUp(o: StackOptions): Promise<Stack> {
  fs.mkdirSync(o.dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(o.dir, 0o755); // the postgres user reads dev.env and writes the spool below
  const stack = new Stack(o.dir, await loadState(o.dir, o));
  stack.writeEnvFile();
  if (stack.state.tls) await makeCertificate(stack.tlsCert, stack.tlsKey);
  // Start the independent servers together; the worker needs them all.
  await Promise.all((['temporal', 'r2', 'b2', 'catalog'] as const).map((c) => stack.start(c)));
  if (o.worker !== false) await stack.start('worker');
  return stack;
}

/** Stops only what `up` started, worker first so it can finish its activities. */
export async function stackDown(dir: string): Promise<string[]> {
  if (!fs.existsSync(path.join(dir, 'stack.json'))) return [];
  const stack = openStack(dir);
  const stopped: string[] = [];
  for (const c of ['worker', 'temporal', 'r2', 'b2', 'catalog'] as const) {
    if (await stack.stop(c).catch(() => false)) stopped.push(c);
  }
  // The demo's PostgreSQL and its restores archive into, or read from, this stack: stop them too.
  for (const data of [path.join(dir, 'demo-pg', 'data'), ...listDirs(path.join(dir, 'restores'))]) {
    if (await stopPostgres(data).catch(() => false)) stopped.push(`postgres ${path.relative(dir, data)}`);
  }
  return stopped;
}
