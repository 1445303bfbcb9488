// `npm test`: unit tests, then end-to-end tests against real local stacks (Temporal, two S3
// servers, a catalog PostgreSQL) started for this run and stopped afterwards, on success,
// failure or interruption alike, together with every worker and PostgreSQL the tests started.
// The files are split into shards (WALFLOW_TEST_SHARDS, default 2), each run one file at a
// time on a stack of its own: tests stop and start their stack's S3 servers, which must not
// disturb a file running beside them, and most of a test's time is spent waiting.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stackDown, stackUp } from '../lib/devstack/stack';
import { cleanupUnder } from '../test/support/cleanup';

const ROOT = path.resolve(__dirname, '..', '..');

async function main(): Promise<number> {
  const filter = process.argv.slice(2);
  const shards = Math.max(1, Number(process.env.WALFLOW_TEST_SHARDS ?? 2));
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
      `${shards} test stack(s) up in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${dirs.join(', ')}\n`,
    );
    // The unit tests take a second: they always run; a filter picks end-to-end files by name.
    const files = [
      ...listTests(path.join(ROOT, 'dist', 'test', 'unit')),
      ...listTests(path.join(ROOT, 'dist', 'test')).filter(
        (f) => filter.length === 0 || filter.some((x) => path.basename(f).includes(x)),
      ),
    ];
    const codes = await Promise.all(
      dirs.map(
        (dir, i) =>
          new Promise<number>((resolve) => {
            const child = spawn(
              process.execPath,
              [
                '--test',
                '--test-concurrency=1',
                '--test-reporter=spec',
                ...(shards > 1 ? [`--test-shard=${i + 1}/${shards}`] : []),
                ...files,
              ],
              { stdio: 'inherit', env: { ...process.env, WALFLOW_TEST_STACK: dir } },
            );
            children.add(child);
            child.on('exit', (code, signal) => {
              children.delete(child);
              resolve(code ?? (signal ? 1 : 0));
            });
          }),
      ),
    );
    exitCode = Math.max(...codes);
  } finally {
    await cleanup();
  }
  return exitCode;
}

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
