// `npm test`: unit tests, then end-to-end tests against real local stacks (Temporal, two S3
// servers, a catalog PostgreSQL) started for this run and stopped afterwards, on success,
// failure or interruption alike, together with every worker and PostgreSQL the tests started.
// The unit tests together, and each end-to-end file, are jobs; shards (WALFLOW_TEST_SHARDS,
// default 2, 3 with the version matrix) each take the next job as their last one ends and run it
// on a stack of their own: tests stop and start their stack's S3 servers, which must not disturb
// a file running beside them, and most of a test's time is spent waiting.
//
// Every file runs once on the stack's default PostgreSQL (WALFLOW_TEST_PG_MAJOR, when set, makes
// that another version). A whole run, or one given --matrix, also runs the files whose outcome
// depends on the PostgreSQL version on the versions MATRIX names.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pgBin, stackPgMajor } from '../lib/devstack/procs';
import { stackDown, stackUp } from '../lib/devstack/stack';
import { cleanupUnder } from '../test/support/cleanup';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * Files that read WAL, run PostgreSQL's own programs or rely on its recovery, by the version they
 * also run on besides the default: on 18 archiving and the push contract, fetch, backups,
 * restores to every kind of target and across timelines, verify, `walflow recoverable`, the
 * segment index and the WAL reader against pg_waldump; on 16, to keep npm test in its time
 * budget, push, fetch, backups, restores to a time, a name and an LSN, timelines and the reader.
 */
const MATRIX: Readonly<Record<number, string[]>> = {
  16: [
    'backup.test.js',
    'fetch.test.js',
    'push.test.js',
    'restore-timeline.test.js',
    'restore.test.js',
    'timelines.test.js',
    'walrecords.test.js',
  ],
  18: [
    'archive.test.js',
    'backup.test.js',
    'fetch.test.js',
    'push.test.js',
    'recoverable.test.js',
    'restore-archive-end.test.js',
    'restore-timeline.test.js',
    'restore.test.js',
    'timelines.test.js',
    'verify.test.js',
    'walindex.test.js',
    'walrecords.test.js',
  ],
};
const MATRIX_VERSIONS = Object.keys(MATRIX).map(Number);

interface Job {
  /** Run together under one node --test: the unit tests, or one end-to-end file. */
  files: string[];
  name: string;
  pgMajor: number;
}

interface Outcome extends Job {
  code: number;
  seconds: number;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const matrixAsked = args.includes('--matrix');
  const filter = args.filter((a) => a !== '--matrix');
  const defaultMajor = stackPgMajor();
  // A version set on purpose runs everything on it alone.
  const matrix = !process.env.WALFLOW_TEST_PG_MAJOR && (filter.length === 0 || matrixAsked);
  // A stack never runs one file twice (the second run would find the first one's cluster), so
  // the matrix needs as many stacks as versions a file runs on.
  const shards = Math.max(
    matrix ? MATRIX_VERSIONS.length + 1 : 1,
    Number(process.env.WALFLOW_TEST_SHARDS ?? (matrix ? 3 : 2)),
  );
  if (matrix) for (const v of MATRIX_VERSIONS) pgBin('postgres', v); // missing: one line saying what to install

  const unit = listTests(path.join(ROOT, 'dist', 'test', 'unit'));
  const e2e = listTests(path.join(ROOT, 'dist', 'test')).filter(
    (f) => filter.length === 0 || filter.some((x) => path.basename(f).includes(x)),
  );
  // The unit tests take seconds together and always run; a filter picks end-to-end files by name.
  const jobsOn = (pgMajor: number, only: (file: string) => boolean): Job[] => {
    const units = unit.filter(only);
    return [
      ...(units.length
        ? [{ files: units, name: units.length === unit.length ? 'unit tests' : units.map(base).join(', '), pgMajor }]
        : []),
      ...e2e.filter(only).map((f) => ({ files: [f], name: base(f), pgMajor })),
    ];
  };
  const jobs = jobsOn(defaultMajor, () => true);
  if (matrix)
    for (const pgMajor of MATRIX_VERSIONS) jobs.push(...jobsOn(pgMajor, (f) => MATRIX[pgMajor].includes(base(f))));

  const dirs = Array.from({ length: shards }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'walflow-test-'));
    fs.chmodSync(dir, 0o755);
    return dir;
  });
  let exitCode = 1;
  const children = new Set<ChildProcess>();
  const cleanup = async () => {
    for (const c of children) c.kill('SIGTERM'); // interrupted: the tests go first, then what they started
    for (const dir of dirs) {
      await cleanupUnder(dir);
      await stackDown(dir).catch(() => undefined);
      if (exitCode === 0) fs.rmSync(dir, { recursive: true, force: true });
      else process.stderr.write(`test stack kept for inspection: ${dir}\n`);
    }
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      void cleanup().finally(() => process.exit(130));
    });
  try {
    const t0 = Date.now();
    for (const dir of dirs) await stackUp({ dir, cluster: 'unused', worker: false });
    process.stderr.write(
      `${shards} test stack(s) up in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${dirs.join(', ')}\n` +
        `${jobs.length} jobs to run on PostgreSQL ${[defaultMajor, ...(matrix ? MATRIX_VERSIONS : [])].join(', ')}\n`,
    );
    const pending = [...jobs];
    const outcomes: Outcome[] = [];
    await Promise.all(
      dirs.map(async (dir) => {
        const ran = new Set<string>();
        for (;;) {
          const i = pending.findIndex((j) => !ran.has(j.name));
          if (i < 0) return;
          const [job] = pending.splice(i, 1);
          ran.add(job.name);
          outcomes.push(await runJob(job, dir, children));
        }
      }),
    );
    process.stdout.write(summary(outcomes, (Date.now() - t0) / 1000));
    exitCode = Math.max(0, ...outcomes.map((o) => o.code));
  } finally {
    await cleanup();
  }
  return exitCode;
}

/** One file under node --test; its output is printed whole when it ends, under a line naming its version. */
function runJob(job: Job, stackDir: string, children: Set<ChildProcess>): Promise<Outcome> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...job.files], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WALFLOW_TEST_STACK: stackDir, WALFLOW_TEST_PG_MAJOR: String(job.pgMajor) },
    });
    children.add(child);
    const out: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => out.push(b));
    child.on('close', (code, signal) => {
      children.delete(child);
      const o = { ...job, code: code ?? (signal ? 1 : 0), seconds: (Date.now() - t0) / 1000 };
      process.stdout.write(`\n── ${label(o)} ──\n${Buffer.concat(out).toString()}`);
      resolve(o);
    });
  });
}

function label(o: Outcome): string {
  return `${o.name} on PostgreSQL ${o.pgMajor}: ${o.code === 0 ? 'pass' : 'FAIL'} in ${o.seconds.toFixed(1)}s`;
}

function summary(outcomes: Outcome[], seconds: number): string {
  const failed = outcomes.filter((o) => o.code !== 0);
  const byVersion = new Map<number, number>();
  for (const o of outcomes) byVersion.set(o.pgMajor, (byVersion.get(o.pgMajor) ?? 0) + o.seconds);
  return [
    '',
    `${outcomes.length} jobs, ${failed.length} failed, in ${seconds.toFixed(0)}s`,
    `time per PostgreSQL version: ${[...byVersion].map(([v, s]) => `${v} ${s.toFixed(0)}s`).join(', ')}`,
    ...failed.map((o) => `failed: ${label(o)}`),
    '',
  ].join('\n');
}

const base = (file: string) => path.basename(file);

function listTests(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.test.js'))
    .sort()
    .map((f) => path.join(dir, f));
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
