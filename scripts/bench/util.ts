// Small helpers for the benchmark: statistics, timing, child processes as the postgres user.
import { spawn, spawnSync, SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import { postgresUser } from '../../lib/devstack/procs';

export function sorted(xs: number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

/** Nearest-rank percentile (p in 0..100) of a non-empty sample. */
export function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export const median = (xs: number[]) => pct(xs, 50);
export const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Milliseconds since an hrtime start. */
export function msSince(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
export const now = () => process.hrtime.bigint();

export const MiB = 1 << 20;

export function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

/** Spawn options that run a command as the postgres OS user (when we are root), in a clean env. */
export function asPostgresOpts(env: NodeJS.ProcessEnv = { PATH: '/usr/bin:/bin' }) {
  const u = postgresUser();
  return { cwd: '/', env: { HOME: '/var/lib/postgresql', USER: 'postgres', ...env }, ...(u ?? {}) };
}

/** Runs a short command synchronously as postgres and times the whole process (ms). */
/** One call per segment never takes a minute; a hung one is killed and fails the bench, not stalls it. */
const PER_CALL_TIMEOUT_MS = 60_000;

export function timedAsPostgres(cmd: string, args: string[]): { ms: number; r: SpawnSyncReturns<string> } {
  const opts = {
    ...asPostgresOpts(),
    encoding: 'utf8' as const,
    stdio: ['ignore', 'pipe', 'pipe'] as ('ignore' | 'pipe')[],
    timeout: PER_CALL_TIMEOUT_MS,
    killSignal: 'SIGKILL' as const,
  };
  const t0 = now();
  const r = spawnSync(cmd, args, opts);
  const ms = msSince(t0);
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  return { ms, r };
}

/** Runs a (possibly long) command asynchronously as postgres, so signals still reach us. */
export function runAsPostgres(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...asPostgresOpts({ PATH: '/usr/bin:/bin' }), stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child.pid!);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      running.delete(child.pid!);
      resolve({ code: code ?? (signal ? 128 : 0), out });
    });
  });
}

/** Children of runAsPostgres still running: the cleanup ends exactly these. */
export const running = new Set<number>();

export function fmt(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return 'n/a';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** CPU accounting from /proc: whole machine (busy/total jiffies) and chosen processes. */
export interface CpuSnapshot {
  busy: number;
  total: number;
  procs: Record<string, number>;
}

export function cpuSnapshot(pids: Record<string, number | undefined>): CpuSnapshot {
  const read = (f: string) => {
    try {
      return fs.readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  };
  const cpu = read('/proc/stat').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  const total = cpu.reduce((a, b) => a + b, 0);
  const procs: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) {
    if (!pid) continue;
    const stat = read(`/proc/${pid}/stat`);
    const fields = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    if (fields.length > 14) procs[name] = fields[11] + fields[12] + fields[13] + fields[14]; // utime stime cutime cstime
  }
  return { busy: total - idle, total, procs };
}

/** CPU seconds used between two snapshots (per process), and the machine's busy share. */
export function cpuDelta(
  a: CpuSnapshot,
  b: CpuSnapshot,
): { machineBusyPct: number; cpuSeconds: Record<string, number> } {
  const hz = 100; // USER_HZ on Linux
  const cpuSeconds: Record<string, number> = {};
  for (const k of Object.keys(b.procs))
    if (k in a.procs) cpuSeconds[k] = Math.round(((b.procs[k] - a.procs[k]) / hz) * 100) / 100;
  return { machineBusyPct: Math.round(((b.busy - a.busy) / Math.max(1, b.total - a.total)) * 1000) / 10, cpuSeconds };
}

/** A process's peak resident set since start or the last reset, in MiB (Linux: VmHWM, reset through clear_refs). */
export function peakRssMiB(pid: number): number {
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return (kb * 1024) / MiB;
}
export function resetPeakRss(pid: number): void {
  fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** Resident set (MiB) of `pid` and all its descendants whose command is `comm`, now. */
export function treeRssMiB(pid: number, comm: string): number {
  let kb = 0;
  const visit = (p: number) => {
    let status: string, children: string;
    try {
      status = fs.readFileSync(`/proc/${p}/status`, 'utf8');
      children = fs.readFileSync(`/proc/${p}/task/${p}/children`, 'utf8');
    } catch {
      return; // gone meanwhile
    }
    if (/^Name:\s+(.*)$/m.exec(status)?.[1] === comm) kb += Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
    for (const c of children.trim().split(/\s+/).filter(Boolean)) visit(Number(c));
  };
  visit(pid);
  return kb / 1024;
}
