// `npm test`: unit tests, then end-to-end tests against one real local stack (Temporal, two
// S3 servers, a catalog PostgreSQL) started for this run and stopped afterwards, on success,
// failure or interruption alike, together with every worker and PostgreSQL the tests started.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stackDown, stackUp } from '../lib/devstack/stack';
import { cleanupUnder } from '../test/support/cleanup';

const ROOT = path.resolve(__dirname, '..', '..');

async function main(): Promise<number> {
  const filter = process.argv.slice(2);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'walflow-test-'));
  fs.chmodSync(dir, 0o755);
  let exitCode = 1;
  let child: ChildProcess | undefined;
  const cleanup = async () => {
    child?.kill('SIGTERM'); // interrupted: the test process goes first, then what it started
    await cleanupUnder(dir);
    await stackDown(dir).catch(() => undefined);
    if (exitCode === 0) fs.rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`test stack kept for inspection: ${dir}\n`);
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { void cleanup().finally(() => process.exit(130)); });
  try {
    const t0 = Date.now();
    await stackUp({ dir, cluster: 'unused', worker: false });
    process.stderr.write(`test stack up in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${dir}\n`);
    // The unit tests take a second: they always run; a filter picks end-to-end files by name.
    const files = [
      ...listTests(path.join(ROOT, 'dist', 'test', 'unit')),
      ...listTests(path.join(ROOT, 'dist', 'test')).filter((f) => filter.length === 0 || filter.some((x) => path.basename(f).includes(x))),
    ];
    exitCode = await new Promise<number>((resolve) => {
      child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
        stdio: 'inherit', env: { ...process.env, WALFLOW_TEST_STACK: dir },
      });
      child.on('exit', (code, signal) => { child = undefined; resolve(code ?? (signal ? 1 : 0)); });
    });
  } finally {
    await cleanup();
  }
  return exitCode;
}

function listTests(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => f.endsWith('.test.js')).sort().map((f) => path.join(dir, f));
}

main().then((code) => process.exit(code), (e) => { console.error(e); process.exit(1); });
