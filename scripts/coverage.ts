// `npm run coverage`: the test suite as `npm test` runs it (run-tests.js, which stops every process
// it starts), with V8 coverage on for every Node process started beneath it: the test files, the
// workers and CLI commands they start, and `walflow push`/`fetch` run by PostgreSQL. Then one c8
// report against the TypeScript sources, printed per folder with the overall figure.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';

const ROOT = path.resolve(__dirname, '..', '..');
const REPORTS = path.join(ROOT, 'coverage');
const FOLDERS = ['lib', 'activities', 'workflows', 'cli', 'workers'];

interface Counts {
  total: number;
  covered: number;
}
interface FileSummary {
  lines: Counts;
  branches: Counts;
}

async function main(): Promise<number> {
  // Workers, PostgreSQL and the push/fetch it runs are the postgres user: they must write here too.
  const raw = fs.mkdtempSync(path.join(os.tmpdir(), 'walflow-coverage-'));
  fs.chmodSync(raw, 0o1777);
  try {
    const testsCode = await runTests(raw);
    fs.rmSync(REPORTS, { recursive: true, force: true });
    fs.mkdirSync(REPORTS, { recursive: true });
    await materializeWorkflowBundle(raw);
    report(raw);
    return testsCode;
  } finally {
    fs.rmSync(raw, { recursive: true, force: true });
  }
}

function runTests(raw: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [path.join(ROOT, 'dist', 'scripts', 'run-tests.js'), ...process.argv.slice(2)],
      {
        stdio: 'inherit',
        env: { ...process.env, NODE_V8_COVERAGE: raw },
      },
    );
    // An interrupt reaches run-tests.js too, which stops its stacks first: wait for it, then report.
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    process.on('SIGINT', () => undefined);
    process.on('SIGTERM', forward);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/**
 * Workers run the workflows from a webpack bundle built in memory, and V8 reports their coverage
 * against `/workflow-bundle-<hash>.js`, a file that does not exist. The same sources bundle again
 * to the same file (the hash is of its content); written under the reports folder and named in
 * the raw files, c8 maps it back to workflows/ through its inline source map.
 */
async function materializeWorkflowBundle(raw: string): Promise<void> {
  const files = fs.readdirSync(raw).map((f) => path.join(raw, f));
  const named = new Map<string, string[]>();
  for (const file of files)
    for (const url of new Set(fs.readFileSync(file, 'utf8').match(/file:\/\/\/workflow-bundle-[0-9a-f]+\.js/g)))
      named.set(url, [...(named.get(url) ?? []), file]);
  if (!named.size) return;
  const silent = () => undefined;
  // webpack hashes the folder it runs in too: the tests start their workers in /.
  const cwd = process.cwd();
  process.chdir('/');
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: { log: silent, trace: silent, debug: silent, info: silent, warn: silent, error: silent },
  }).finally(() => process.chdir(cwd));
  const map = /sourceMappingURL=data:application\/json;[^,]*base64,([A-Za-z0-9+/=]+)\s*$/.exec(code)?.[1];
  const name = map && (JSON.parse(Buffer.from(map, 'base64').toString('utf8')) as { file?: string }).file;
  for (const [url, withIt] of named) {
    if (!name || url !== `file:///${name}`) {
      process.stderr.write(
        `coverage: ${url} differs from the workflows bundled now (${name}); its runs are left out\n`,
      );
      continue;
    }
    const onDisk = path.join(REPORTS, name);
    fs.writeFileSync(onDisk, code);
    for (const file of withIt)
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replaceAll(url, pathToFileURL(onDisk).href));
  }
}

function report(raw: string): void {
  const perFile = path.join(REPORTS, 'coverage.txt');
  const out = fs.openSync(perFile, 'w');
  const r = spawnSync(
    process.execPath,
    [
      path.join(ROOT, 'node_modules', 'c8', 'bin', 'c8.js'),
      'report',
      '--temp-directory',
      raw,
      '--reports-dir',
      REPORTS,
      '--merge-async',
      // Every compiled file counts, loaded or not: --all lists dist/<folder>/**, the first
      // patterns select the compiled files, the second their .ts sources once remapped.
      '--all',
      '--src',
      path.join(ROOT, 'dist'),
      '--exclude-after-remap',
      ...FOLDERS.flatMap((f) => ['--include', `dist/${f}/**`, '--include', `${f}/**`]),
      '--include',
      'coverage/workflow-bundle-*.js',
      // Workers load the bundle `npm run build` wrote; its inline source map leads to workflows/.
      '--include',
      'dist/workflow-bundle.js',
      '--exclude',
      '**/*.d.ts',
      '--exclude',
      '**/*-autogenerated-entrypoint.cjs',
      '--reporter',
      'text',
      '--reporter',
      'json-summary',
      '--reporter',
      'html',
    ],
    { cwd: ROOT, stdio: ['ignore', out, 'inherit'], env: { ...process.env, COLUMNS: '160' } },
  );
  fs.closeSync(out);
  if (r.status !== 0) throw new Error(`c8 report failed (exit ${r.status})`);
  const summary = JSON.parse(fs.readFileSync(path.join(REPORTS, 'coverage-summary.json'), 'utf8')) as Record<
    string,
    FileSummary
  >;
  const files = Object.entries(summary).filter(([file]) => file !== 'total');
  // The dev stack runs under every test as their harness: shown apart, so lib/ is not flattered.
  const groups = ['lib/', 'lib/devstack/', ...FOLDERS.slice(1).map((f) => `${f}/`)];
  const groupOf = (file: string) => {
    const rel = path.relative(ROOT, file).split(path.sep).join('/');
    return rel.startsWith('lib/devstack/') ? 'lib/devstack/' : `${rel.split('/')[0]}/`;
  };
  const rows = groups.map((group) => [
    group,
    ...totals(files.filter(([file]) => groupOf(file) === group).map(([, s]) => s)),
  ]);
  rows.push(['all', ...totals(files.map(([, s]) => s))]);
  const table = [['folder', 'lines', 'branches'], ...rows].map(
    ([a, b, c]) => `${a.padEnd(12)}${b.padStart(22)}${c.padStart(22)}`,
  );
  process.stdout.write(
    `\ncoverage (c8, line and branch, over the .ts sources)\n${table.join('\n')}\n` +
      `per file with uncovered lines: ${perFile}; browsable: ${path.join(REPORTS, 'index.html')}\n`,
  );
}

function totals(files: FileSummary[]): [string, string] {
  const sum = (k: keyof FileSummary) =>
    files.reduce((acc, f) => ({ total: acc.total + f[k].total, covered: acc.covered + f[k].covered }), {
      total: 0,
      covered: 0,
    });
  const fmt = (c: Counts) =>
    `${c.total ? ((100 * c.covered) / c.total).toFixed(1) : '100.0'}% (${c.covered}/${c.total})`;
  return [fmt(sum('lines')), fmt(sum('branches'))];
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
