// Every command says the same thing when the catalog, Temporal or a store does not answer: one
// line naming what, at which address, and what to do, and a non-zero exit; never "internal error".
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { before, test } from 'node:test';
import { promisify } from 'node:util';
import { freePort, ROOT } from '../lib/devstack/procs';
import { TestEnv } from './support/env';

let down: TestEnv;
let catalogPort: number;
let temporalPort: number;

before(async () => {
  catalogPort = await freePort();
  temporalPort = await freePort();
  down = new TestEnv('unreachable', {
    WALFLOW_CATALOG_URL: `postgres://walflow:catalog-secret@127.0.0.1:${catalogPort}/walflow`,
    TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
  });
});

/** Runs a command and returns its only line of output, after checking that it failed with exit 1. */
function oneLineFailure(env: TestEnv, args: string[]): string {
  return checkFailure(args, env.walflow(args));
}

/** The same for commands run side by side: each waits seconds for Temporal to answer. */
async function oneLineFailures(env: TestEnv, commands: string[][]): Promise<string[]> {
  const run = promisify(execFile);
  return Promise.all(
    commands.map(async (args) => {
      const r = await run(path.join(ROOT, 'bin', 'walflow'), [...args, '--env-file', env.envFile], {
        cwd: '/',
        env: { PATH: '/usr/bin:/bin' },
      }).then(
        (done) => ({ status: 0, stderr: done.stderr }),
        (e: { code?: number; stderr?: string }) => ({ status: e.code ?? -1, stderr: e.stderr ?? '' }),
      );
      return checkFailure(args, r);
    }),
  );
}

function checkFailure(args: string[], r: { status: number; stderr: string }): string {
  const lines = r.stderr.trim().split('\n');
  assert.equal(r.status, 1, `walflow ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  assert.equal(lines.length, 1, `walflow ${args.join(' ')}: one line expected\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /internal error|catalog-secret/, `walflow ${args.join(' ')}`);
  return lines[0];
}

test('a stopped catalog: every command that reads it names it, without its password', () => {
  const expected = new RegExp(
    `^walflow: cannot reach the catalog at 127\\.0\\.0\\.1:${catalogPort}/walflow \\(ECONNREFUSED\\): ` +
      'start it, or fix WALFLOW_CATALOG_URL$',
  );
  for (const args of [['status'], ['alerts'], ['backups'], ['recoverable'], ['catalog', 'rebuild']])
    assert.match(oneLineFailure(down, args), expected, args.join(' '));
});

test('a stopped Temporal: every command that starts a workflow names it', async () => {
  const expected = new RegExp(
    `^walflow: cannot reach Temporal at 127\\.0\\.0\\.1:${temporalPort} \\([^)]+\\): ` +
      "start it \\('walflow dev up' starts a local one\\), or fix TEMPORAL_ADDRESS$",
  );
  const commands = [
    ['archive'],
    ['backup'],
    ['verify'],
    ['prune', '--dry-run'],
    ['drill'],
    ['restore', '--plan-only'],
    ['schedules', 'apply'],
  ];
  const lines = await oneLineFailures(down, commands);
  commands.forEach((args, i) => assert.match(lines[i], expected, args.join(' ')));
});

test('a store that does not answer: catalog rebuild names it and its endpoint', async () => {
  const storePort = await freePort();
  const env = new TestEnv('unreachable-store', { WALFLOW_STORE_B2_ENDPOINT: `http://127.0.0.1:${storePort}` });
  assert.match(
    oneLineFailure(env, ['catalog', 'rebuild']),
    new RegExp(
      `^walflow: cannot reach store b2 at http://127\\.0\\.0\\.1:${storePort} \\(ECONNREFUSED\\): ` +
        'start it, or fix WALFLOW_STORE_B2_ENDPOINT$',
    ),
  );
});

test('dev env before dev up says to run dev up', () => {
  const dir = path.join(down.dir, 'no-stack');
  fs.mkdirSync(dir, { recursive: true });
  assert.match(
    oneLineFailure(down, ['dev', 'env', '--dir', dir]),
    new RegExp(`^walflow: no local stack in ${dir}; run 'walflow dev up' first$`),
  );
});
