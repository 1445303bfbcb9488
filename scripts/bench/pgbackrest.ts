// pgBackRest side by side, on the same two S3 servers as walflow (repo1 on r2, repo2 on b2, over
// HTTPS, the stack's certificate verified), in its fastest supported configuration: async
// archive-push and archive-get, process-max 2, zstd level 3. Its commands run as postgres.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chownToPostgres } from '../../lib/devstack/procs';
import type { Stack } from '../../lib/devstack/stack';
import { S3Store } from '../../lib/stores/s3';
import { parseStoreSettings } from '../../lib/stores/settings';
import { asPostgresOpts, log, msSince, now, runAsPostgres, running, timedAsPostgres, treeRssMiB } from './util';

export const STANZA = 'bench';
/** Its repositories' path in the stack's bucket, beside walflow's prefix. */
const REPO_PATH = 'pgbackrest';

/** The pgBackRest version, or undefined when it is not installed. */
export function pgbackrestVersion(): string | undefined {
  const r = spawnSync('pgbackrest', ['version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** A run of one pgBackRest command after another, with everything they started (async processes, locals). */
export interface Measured {
  totalMs: number;
  latenciesMs: number[];
  /** CPU of every process of the run, the async ones included (reaped by the wrapper). */
  cpuSeconds: number;
  /** Largest sum of the run's pgBackRest processes' resident sets, sampled every 100 ms. */
  peakRssMiB: number;
}

// Runs as postgres: makes itself the subreaper of everything it starts (pgBackRest's async
// processes detach from the archive-push/get that started them), runs the commands one after
// the other as PostgreSQL would, then reaps every descendant so that their CPU counts.
const WRAPPER = String.raw`
use strict; use Time::HiRes qw(time);
syscall($ENV{PRCTL_NR}, 36, 1, 0, 0, 0) == 0 or die "prctl(PR_SET_CHILD_SUBREAPER): $!\n";
sub children { open(my $f, '<', "/proc/$$/task/$$/children") or return (); split ' ', <$f> // '' }
sub stop_all { kill 'TERM', children(); 1 while wait() != -1; }
$SIG{TERM} = sub { stop_all(); exit 143 };
my ($mode, $list) = @ARGV;
open(my $f, '<', $list) or die "$list: $!\n";
my @cmds = map { [split /\t/] } grep { length } split /\n/, do { local $/; <$f> };
my ($t0, $i, @ms) = (time, 0);
for my $cmd (@cmds) {
  my $t = time;
  if (system(@$cmd) != 0) { print STDERR "@$cmd: exit " . ($? >> 8) . "\n"; stop_all(); exit 1 }
  push @ms, sprintf('%.1f', (time - $t) * 1000);
  my $last = $cmd->[-1];
  if ($mode eq 'push') { (my $st = $last) =~ s{/([^/]+)$}{/archive_status/$1}; rename "$st.ready", "$st.done" }
  if ($mode eq 'get') {
    my $size = -s $last // 0;
    if ($size != 16777216) { print STDERR "$last: $size bytes\n"; stop_all(); exit 1 }
    unlink $last if $i > 0;
  }
  $i++;
}
my $total = (time - $t0) * 1000;
1 while wait() != -1;
my @t = times;
print join(' ', sprintf('%.1f', $total), $t[2] + $t[3], @ms), "\n";
`;

const PRCTL: Partial<Record<string, number>> = { x64: 157, arm64: 167 };

export class Pgbackrest {
  readonly conf: string;
  readonly version: string;
  /** Each repository as a walflow store (prefix REPO_PATH), to count and poll its objects. */
  readonly repos: S3Store[];
  private readonly base: string;
  private archiveId?: string;

  constructor(
    stack: Stack,
    dir: string,
    readonly src: { data: string; port: number; runDir: string },
  ) {
    this.version = pgbackrestVersion()!;
    this.base = path.join(dir, 'pgbackrest');
    const sub = ['lock', 'log', 'spool'].map((d) => path.join(this.base, d));
    for (const d of [this.base, ...sub]) fs.mkdirSync(d, { recursive: true });
    chownToPostgres(this.base, ...sub);
    const stores = parseStoreSettings(stack.env()).map((s) => s.store);
    const repoLines = stores.flatMap((s, i) => {
      if (s.type !== 's3' || !s.endpoint) throw new Error('the bench needs the stack S3 stores');
      const url = new URL(s.endpoint);
      const r = `repo${i + 1}-`;
      return [
        `${r}type=s3`,
        `${r}path=/${REPO_PATH}`,
        `${r}s3-bucket=${s.bucket}`,
        `${r}s3-endpoint=${url.hostname}`,
        `${r}storage-port=${url.port}`,
        `${r}s3-region=${s.region}`,
        `${r}s3-key=${s.accessKeyId}`,
        `${r}s3-key-secret=${s.secretAccessKey}`,
        `${r}s3-uri-style=path`,
        `${r}storage-ca-file=${stack.tlsCert}`,
        `${r}retention-full=2`,
      ];
    });
    this.repos = stores.map((s) => new S3Store({ ...(s as Extract<typeof s, { type: 's3' }>), prefix: REPO_PATH }));
    this.conf = path.join(this.base, 'pgbackrest.conf');
    fs.writeFileSync(
      this.conf,
      [
        '[global]',
        ...repoLines,
        'compress-type=zst',
        'compress-level=3',
        'archive-async=y',
        'process-max=2',
        // Room to prefetch a whole restore's WAL, as walflow's prefetch does (the default is 128 MiB).
        'archive-get-queue-max=2GiB',
        'start-fast=y',
        `lock-path=${sub[0]}`,
        `log-path=${sub[1]}`,
        `spool-path=${sub[2]}`,
        'log-level-console=warn',
        'log-level-file=info',
        '',
        `[${STANZA}]`,
        `pg1-path=${src.data}`,
        `pg1-port=${src.port}`,
        `pg1-socket-path=${src.runDir}`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    chownToPostgres(this.conf);
    this.run(['stanza-create']);
  }

  /** The command line PostgreSQL's archive_command / restore_command would use. */
  command(args: string): string {
    return `pgbackrest --config=${this.conf} --stanza=${STANZA} ${args}`;
  }

  /** One short command as postgres; timed (ms). */
  run(args: string[]): number {
    const { ms, r } = timedAsPostgres('pgbackrest', [`--config=${this.conf}`, `--stanza=${STANZA}`, ...args]);
    if (r.status !== 0) throw new Error(`pgbackrest ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
    return ms;
  }

  /** A long command (backup, restore) as postgres, without run's per-call limit; timed (ms). */
  async runLong(args: string[]): Promise<number> {
    const t = now();
    const r = await runAsPostgres('pgbackrest', [`--config=${this.conf}`, `--stanza=${STANZA}`, ...args]);
    if (r.code !== 0) throw new Error(`pgbackrest ${args.join(' ')} failed (${r.code}): ${r.out.slice(-3000)}`);
    return msSince(t);
  }

  /**
   * Commands one after the other, as PostgreSQL calls archive_command or restore_command, under
   * the subreaper wrapper. push: args end with a segment in a pg_wal folder, marked .done after
   * it as PostgreSQL does; get: args end with the destination, checked and removed (but the first).
   */
  async measure(mode: 'push' | 'get', cmds: string[][]): Promise<Measured> {
    const nr = PRCTL[os.arch()];
    if (!nr) throw new Error(`the bench measures pgBackRest on x64 and arm64 only, not ${os.arch()}`);
    // A restore's recovery may have left prefetched WAL in the queue: start from nothing.
    if (mode === 'get')
      fs.rmSync(path.join(this.base, 'spool', 'archive', STANZA, 'in'), { recursive: true, force: true });
    const list = path.join(this.base, `${mode}-${Date.now()}.list`);
    const full = cmds.map((c) => ['pgbackrest', `--config=${this.conf}`, `--stanza=${STANZA}`, ...c].join('\t'));
    fs.writeFileSync(list, full.join('\n') + '\n', { mode: 0o644 });
    const child = spawn('perl', ['-e', WRAPPER, mode, list], {
      ...asPostgresOpts({ PATH: '/usr/bin:/bin', PRCTL_NR: String(nr) }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child.pid!);
    let peakRssMiB = 0;
    const sampler = setInterval(() => (peakRssMiB = Math.max(peakRssMiB, treeRssMiB(child.pid!, 'pgbackrest'))), 100);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (c, signal) => resolve(c ?? (signal ? 128 : 0)));
    });
    clearInterval(sampler);
    running.delete(child.pid!);
    fs.rmSync(list, { force: true });
    if (code !== 0) throw new Error(`pgBackRest ${mode} run failed (${code}): ${err.slice(-3000)}`);
    const [total, cpu, ...ms] = out.trim().split(' ').map(Number);
    return { totalMs: total, cpuSeconds: cpu, latenciesMs: ms, peakRssMiB };
  }

  /**
   * A backlog as PostgreSQL leaves it after an outage: a pg_wal folder holding the segments,
   * each marked .ready, beside a copy of the source's pg_control (what archive-push checks).
   * Then archive-push of each in order; returns when the last is in both repositories.
   */
  async archiveBacklog(segments: string[]): Promise<Measured> {
    const fake = path.join(this.base, 'backlog-pgdata');
    const walDir = path.join(fake, 'pg_wal');
    const status = path.join(walDir, 'archive_status');
    for (const d of [fake, path.join(fake, 'global'), walDir, status]) fs.mkdirSync(d, { recursive: true });
    fs.copyFileSync(path.join(this.src.data, 'global', 'pg_control'), path.join(fake, 'global', 'pg_control'));
    fs.copyFileSync(path.join(this.src.data, 'PG_VERSION'), path.join(fake, 'PG_VERSION'));
    for (const s of segments) {
      fs.copyFileSync(s, path.join(walDir, path.basename(s)));
      fs.writeFileSync(path.join(status, `${path.basename(s)}.ready`), '');
    }
    chownToPostgres(
      fake,
      ...fs.readdirSync(fake, { recursive: true, encoding: 'utf8' }).map((f) => path.join(fake, f)),
    );
    const m = await this.measure(
      'push',
      segments.map((s) => [`--pg1-path=${fake}`, 'archive-push', path.join(walDir, path.basename(s))]),
    );
    fs.rmSync(fake, { recursive: true, force: true });
    return m;
  }

  /** Where archive-push put a segment: archive/<stanza>/<archive id>/<first 16 hex>/<segment>-<sha1>.zst. */
  private async archivePrefix(repo: S3Store): Promise<string> {
    if (this.archiveId) return `archive/${STANZA}/${this.archiveId}/`;
    for await (const o of repo.list(`archive/${STANZA}/`)) {
      const m = /^archive\/[^/]+\/([^/]+)\/[0-9A-F]{16}\//.exec(o.key);
      if (m) {
        this.archiveId = m[1];
        return `archive/${STANZA}/${this.archiveId}/`;
      }
    }
    throw new Error('pgBackRest: no WAL in its repository yet');
  }

  /** Whether a repository holds a segment (one LIST of its exact prefix). */
  async holds(repo: S3Store, segment: string): Promise<boolean> {
    const prefix = `${await this.archivePrefix(repo)}${segment.slice(0, 16)}/${segment}-`;
    for await (const _ of repo.list(prefix)) return true;
    return false;
  }

  /** How many of `segments` each repository holds. */
  async counts(segments: string[]): Promise<number[]> {
    const want = new Set(segments.map((s) => path.basename(s)));
    return Promise.all(
      this.repos.map(async (repo) => {
        let n = 0;
        for await (const o of repo.list(`archive/${STANZA}/`)) {
          const m = /\/([0-9A-F]{24})-[0-9a-f]{40}\.zst$/.exec(o.key);
          if (m && want.has(m[1])) n++;
        }
        return n;
      }),
    );
  }

  /** Full backups to both repositories (pgBackRest writes one repository per run), timed each (s). */
  async fullBackups(): Promise<number[]> {
    const seconds: number[] = [];
    for (let i = 1; i <= this.repos.length; i++)
      seconds.push((await this.runLong(['backup', '--type=full', `--repo=${i}`])) / 1000);
    log(`pgBackRest backup --type=full: ${seconds.map((s, i) => `repo${i + 1} ${s.toFixed(1)} s`).join(', ')}`);
    return seconds;
  }

  /** `pgbackrest restore` of the latest backup (repo1) into `pgdata`, to the end of the archive; timed (ms). */
  async restore(pgdata: string): Promise<number> {
    fs.mkdirSync(pgdata, { recursive: true, mode: 0o700 });
    chownToPostgres(pgdata);
    return this.runLong([
      `--pg1-path=${pgdata}`,
      'restore',
      `--recovery-option=restore_command=${this.command(`--pg1-path=${pgdata} archive-get %f "%p"`)}`,
    ]);
  }
}
