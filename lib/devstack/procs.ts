// Background processes for the local stack: pid files, logs, readiness, the postgres OS user.
import { spawn, SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { ROOT } from '../install';
import { pgTool, postgresUser } from '../pgbin';

export { postgresUser, ROOT };
export { freePort, portIfFree } from '../ports';
export const TOOLS = path.join(ROOT, '.tools');

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return pid > 0 && isAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function chownToPostgres(...paths: string[]): void {
  const u = postgresUser();
  if (!u) return;
  for (const p of paths) fs.chownSync(p, u.uid, u.gid);
}

const DEBIAN_PG = '/usr/lib/postgresql';

/** Every PostgreSQL bin folder on this machine: Debian's packages and the builds bootstrap put under .tools/pg. */
export function pgBinDirs(): string[] {
  return [DEBIAN_PG, path.join(TOOLS, 'pg')].flatMap((base) =>
    fs.existsSync(base)
      ? fs
          .readdirSync(base)
          .filter((v) => /^\d+$/.test(v) && fs.existsSync(path.join(base, v, 'bin', 'postgres')))
          .map((v) => path.join(base, v, 'bin'))
      : [],
  );
}

/**
 * The PostgreSQL major version the local stack runs: WALFLOW_TEST_PG_MAJOR when set (the version
 * matrix), else the newest Debian's packages installed (scripts/bootstrap).
 */
export function stackPgMajor(): number {
  if (process.env.WALFLOW_TEST_PG_MAJOR) return Number(process.env.WALFLOW_TEST_PG_MAJOR);
  const majors = fs.existsSync(DEBIAN_PG)
    ? fs
        .readdirSync(DEBIAN_PG)
        .filter((v) => /^\d+$/.test(v))
        .map(Number)
    : [];
  if (!majors.length) throw new Error(`no PostgreSQL under ${DEBIAN_PG}; run 'bash scripts/bootstrap'`);
  return Math.max(...majors);
}

export function pgBin(tool: string, major = stackPgMajor()): string {
  return pgTool(tool, major, { WALFLOW_PG_BINDIR: pgBinDirs().join(':') });
}

export interface StartOptions {
  name: string;
  cmd: string;
  args: string[];
  logFile: string;
  pidFile: string;
  env?: NodeJS.ProcessEnv;
  asPostgres?: boolean;
  cwd?: string;
}

/** Starts a detached background process whose output goes to a log file (never to our stdout). */
export function startBackground(o: StartOptions): number {
  fs.mkdirSync(path.dirname(o.logFile), { recursive: true });
  fs.mkdirSync(path.dirname(o.pidFile), { recursive: true });
  const out = fs.openSync(o.logFile, 'a');
  const user = o.asPostgres ? postgresUser() : undefined;
  const opts: SpawnOptions = {
    detached: true,
    stdio: ['ignore', out, out],
    cwd: o.cwd ?? '/',
    env: { ...process.env, ...(user ? { HOME: '/var/lib/postgresql', USER: 'postgres' } : {}), ...o.env },
    ...(user ?? {}),
  };
  const child = spawn(o.cmd, o.args, opts);
  fs.closeSync(out);
  if (child.pid === undefined) throw new Error(`could not start ${o.name} (${o.cmd})`);
  child.unref();
  fs.writeFileSync(o.pidFile, String(child.pid));
  return child.pid;
}

export async function stopPid(pidFile: string, timeoutMs = 15_000): Promise<boolean> {
  const pid = readPid(pidFile);
  if (pid === undefined) {
    fs.rmSync(pidFile, { force: true });
    return false;
  }
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    /* gone */
  }
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  while (isAlive(pid)) await sleep(50);
  fs.rmSync(pidFile, { force: true });
  return true;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitForPort(port: number, what: string, logFile: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(200);
  }
  const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n') : '';
  throw new Error(`${what} did not open port ${port} within ${timeoutMs / 1000}s; see ${logFile}:\n${tail}`);
}
