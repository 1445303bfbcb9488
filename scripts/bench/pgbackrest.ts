// pgBackRest `archive-push` side by side: the same segments, two local folder repositories,
// zstd at its default level 3, one process per segment in order, as PostgreSQL would call it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { postgresUser } from '../../lib/devstack/procs';
import { cpuDelta, cpuSnapshot, timedAsPostgres } from './util';

export const STANZA = 'bench';

/** The pgBackRest version, or undefined when it is not installed. */
export function pgbackrestVersion(): string | undefined {
  const r = spawnSync('pgbackrest', ['version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export interface PgbackrestResult {
  version: string;
  latenciesMs: number[];
  totalMs: number;
  repoCounts: number[];
  cpuSeconds: number;
  /** Its configuration file (two folder repositories, stanza STANZA), for later commands. */
  conf: string;
}

/** One pgBackRest command as postgres with the bench's configuration and stanza; timed (ms). */
export function pgbackrest(conf: string, args: string[]): number {
  const { ms, r } = timedAsPostgres('pgbackrest', [`--config=${conf}`, `--stanza=${STANZA}`, ...args]);
  if (r.status !== 0) throw new Error(`pgbackrest ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return ms;
}

function chownTree(p: string): void {
  const u = postgresUser();
  if (!u) return;
  fs.chownSync(p, u.uid, u.gid);
  if (fs.statSync(p).isDirectory()) for (const e of fs.readdirSync(p)) chownTree(path.join(p, e));
}

export function benchPgbackrest(o: {
  dir: string;
  pgData: string;
  pgPort: number;
  pgSocketDir: string;
  segments: string[];
}): PgbackrestResult {
  const version = pgbackrestVersion()!;
  const base = path.join(o.dir, 'pgbackrest');
  const repos = [path.join(base, 'repo1'), path.join(base, 'repo2')];
  for (const d of [base, ...repos, path.join(base, 'lock'), path.join(base, 'log'), path.join(base, 'spool')])
    fs.mkdirSync(d, { recursive: true });
  const conf = path.join(base, 'pgbackrest.conf');
  fs.writeFileSync(
    conf,
    [
      '[global]',
      `repo1-path=${repos[0]}`,
      `repo2-path=${repos[1]}`,
      'compress-type=zst',
      'compress-level=3',
      `lock-path=${path.join(base, 'lock')}`,
      `log-path=${path.join(base, 'log')}`,
      `spool-path=${path.join(base, 'spool')}`,
      'log-level-console=warn',
      'log-level-file=info',
      '',
      `[${STANZA}]`,
      `pg1-path=${o.pgData}`,
      `pg1-port=${o.pgPort}`,
      `pg1-socket-path=${o.pgSocketDir}`,
      '',
    ].join('\n'),
  );
  chownTree(base);
  const run = (args: string[]) => pgbackrest(conf, args);
  run(['stanza-create']);

  const latenciesMs: number[] = [];
  const cpu0 = cpuSnapshot({ children: process.pid }); // archive-push runs as our (waited-for) child
  const t0 = process.hrtime.bigint();
  for (const seg of o.segments) latenciesMs.push(run(['archive-push', seg]));
  const totalMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpuSeconds = cpuDelta(cpu0, cpuSnapshot({ children: process.pid })).cpuSeconds.children;

  // Both repositories must hold every segment (archive/<stanza>/<pg version>-<n>/<first 16 hex>/).
  const repoCounts = repos.map((repo) => {
    const names = new Set(o.segments.map((s) => path.basename(s)));
    let n = 0;
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(path.join(d, e.name));
        else if (e.name.endsWith('.zst') && names.has(e.name.slice(0, 24))) n++;
      }
    };
    walk(path.join(repo, 'archive', STANZA));
    return n;
  });
  return { version, latenciesMs, totalMs, repoCounts, cpuSeconds, conf };
}
