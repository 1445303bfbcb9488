// `walflow fetch %f %p` (restore_command) against real stores, run as postgres like PostgreSQL does.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { codecByName } from '../lib/codec';
import { PgCluster } from '../lib/devstack/pgcluster';
import { chownToPostgres, ROOT } from '../lib/devstack/procs';
import { bareEnv, TestEnv } from './support/env';
import { corruptInStore, waitArchived } from './support/pitr';

let env: TestEnv;
let pg: PgCluster;
let segment: string;
let onlyInR2: string;
let expected: Buffer;
let dest: string;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

before(async () => {
  // A short bound on retries keeps the failure cases quick; the default is 60s.
  env = new TestEnv('fetch', { WALFLOW_FETCH_GIVE_UP_AFTER: '3s' });
  await env.startWorker();
  pg = await env.createCluster();
  await pg.query('CREATE TABLE t AS SELECT generate_series(1, 10000) AS id');
  segment = await pg.switchWal();
  await waitArchived(env, segment);
  await pg.query('INSERT INTO t SELECT generate_series(1, 10000)');
  onlyInR2 = await pg.switchWal();
  await waitArchived(env, onlyInR2);
  await env.stores.get('b2')!.delete(`fetch/wal/00000001/${onlyInR2}.zst`);
  const key = `fetch/wal/00000001/${segment}.zst`;
  expected = await codecByName('zstd').decompress(await env.stores.get('b2')!.get(key));
  dest = path.join(env.dir, 'fetched');
  fs.mkdirSync(dest, { recursive: true });
  chownToPostgres(dest);
});

after(async () => {
  await pg?.stop('immediate');
  await env?.close();
});

function fetch(name: string, to: string, envFile = env.envFile, extra: string[] = []) {
  return env.walflow(['fetch', name, to, ...extra, '--env-file', envFile]);
}

test('an archived segment is fetched, verified and written whole', () => {
  const to = path.join(dest, 'RECOVERYXLOG');
  const r = fetch(segment, to);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(sha(fs.readFileSync(to)), sha(expected));
  assert.deepEqual(
    fs.readdirSync(dest).filter((f) => f.endsWith('.tmp')),
    [],
    'no temp files left',
  );
});

test('a file no store has: exit 1 and nothing on stderr (PostgreSQL asks routinely)', () => {
  for (const name of ['0000000100000000000000FE', '00000009.history']) {
    const to = path.join(dest, 'missing');
    const r = fetch(name, to);
    assert.equal(r.status, 1, name);
    assert.equal(r.stderr, '', name);
    assert.equal(fs.existsSync(to), false);
  }
});

test('not a WAL file name: exit above 125 (PostgreSQL aborts recovery) with a one-line message', () => {
  const r = fetch('../../etc/passwd', path.join(dest, 'x'));
  assert.ok(r.status > 125, `exit ${r.status}: a status up to 125 would read as the end of the archive`);
  assert.match(r.stderr, /not a WAL file name/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('a destination that cannot be written, or a bad retry bound: exit above 125 with one line on what to fix', () => {
  const to = path.join(dest, 'no-such-folder', 'RECOVERYXLOG');
  const r = fetch(segment, to);
  assert.ok(r.status > 125, `exit ${r.status}: the file exists, so this is not the end of the archive`);
  assert.match(r.stderr, /cannot write .*RECOVERYXLOG: ENOENT; restore_command must be 'walflow fetch %f %p'/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);

  const envFile = path.join(env.dir, 'bad-bound.env');
  const settings = fs.readFileSync(env.envFile, 'utf8').replace(/^WALFLOW_FETCH_GIVE_UP_AFTER=.*$/m, '');
  fs.writeFileSync(envFile, settings + 'WALFLOW_FETCH_GIVE_UP_AFTER=soon\n', { mode: 0o644 });
  const bad = fetch(segment, path.join(dest, 'bad-bound'), envFile);
  assert.ok(bad.status > 125, `exit ${bad.status}`);
  assert.match(bad.stderr, /WALFLOW_FETCH_GIVE_UP_AFTER: not a duration: "soon"/);
  assert.equal(fs.existsSync(path.join(dest, 'bad-bound')), false);
});

test('a store that cannot answer while no other has the file: retried, then exit above 125 naming the store', async () => {
  await env.stack.stop('r2');
  try {
    const t0 = Date.now();
    const r = fetch('0000000100000000000000FE', path.join(dest, 'unknown'));
    assert.ok(r.status > 125, `exit ${r.status}: r2 might hold the file, so this is not the end of the archive`);
    assert.ok(Date.now() - t0 >= 3000, 'retried for WALFLOW_FETCH_GIVE_UP_AFTER before giving up');
    assert.match(r.stderr, /r2: .*b2: no such file/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    const standby = fetch('0000000100000000000000FE', path.join(dest, 'unknown'), env.envFile, ['--standby']);
    assert.equal(standby.status, 1, 'a standby keeps "not found": PostgreSQL retries it forever');
    assert.match(standby.stderr, /r2/);
  } finally {
    await env.stack.start('r2'); // shared by every test file
  }
});

test('a store that comes back within the bound: the file is fetched', async () => {
  await env.stack.stop('r2');
  const to = path.join(dest, 'came-back');
  const exited = fetchAsync(onlyInR2, to, env.envFile, { WALFLOW_FETCH_GIVE_UP_AFTER: '60s' });
  await new Promise((r) => setTimeout(r, 2000));
  await env.stack.start('r2');
  const r = await exited;
  assert.equal(r.status, 0, r.stderr);
  assert.ok(fs.statSync(to).size > 0);
});

test('the prefetch folder answers first, without the stores, and is used once', () => {
  const pre = path.join(env.dir, 'prefetch');
  fs.mkdirSync(pre, { recursive: true });
  const fake = Buffer.alloc(1024, 7); // differs from the archive: proves the prefetched copy was used
  fs.writeFileSync(path.join(pre, segment), fake);
  chownToPostgres(pre, path.join(pre, segment));
  const envFile = path.join(env.dir, 'prefetch.env');
  fs.writeFileSync(envFile, fs.readFileSync(env.envFile, 'utf8') + `WALFLOW_PREFETCH_DIR=${pre}\n`, { mode: 0o644 });
  const to = path.join(dest, 'from-prefetch');
  const r = fetch(segment, to, envFile);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(fs.readFileSync(to), fake);
  assert.equal(fs.existsSync(path.join(pre, segment)), false);
  const again = fetch(segment, path.join(dest, 'again'), envFile);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(sha(fs.readFileSync(path.join(dest, 'again'))), sha(expected), 'second time from the stores');
});

test('the first store down: fetched from the second', async () => {
  await env.stack.stop('r2');
  try {
    const to = path.join(dest, 'r2-down');
    const r = fetch(segment, to);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /r2/, 'says which store failed');
    assert.equal(sha(fs.readFileSync(to)), sha(expected));
  } finally {
    await env.stack.start('r2'); // shared by every test file
  }
});

test(
  "a store that accepts and never answers: fetch gives up on it after the store's REQUEST_TIMEOUT",
  { timeout: 60_000 },
  async () => {
    // A hang is a fault the S3 servers cannot be made to show: a listener that never replies.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    const envFile = path.join(env.dir, 'hanging.env');
    fs.writeFileSync(
      envFile,
      fs.readFileSync(env.envFile, 'utf8') +
        `WALFLOW_STORE_R2_ENDPOINT=http://127.0.0.1:${port}\nWALFLOW_STORE_R2_REQUEST_TIMEOUT=1s\n`,
      { mode: 0o644 },
    );
    try {
      const to = path.join(dest, 'r2-hangs');
      const t0 = Date.now();
      const r = await fetchAsync(segment, to, envFile);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /r2/, 'says which store failed');
      assert.ok(Date.now() - t0 < 15_000, `took ${Date.now() - t0} ms: the 1s REQUEST_TIMEOUT was not applied`);
      assert.equal(sha(fs.readFileSync(to)), sha(expected));
    } finally {
      silent.close();
    }
  },
);

/** fetch as a child process: this process goes on meanwhile (starting a store, serving a listener). */
function fetchAsync(
  name: string,
  to: string,
  envFile: string,
  extraEnv: Record<string, string> = {},
  extraArgs: string[] = [],
): Promise<{ status: number | null; stderr: string }> {
  const child = spawn(path.join(ROOT, 'bin', 'walflow'), ['fetch', name, to, ...extraArgs, '--env-file', envFile], {
    cwd: '/',
    env: bareEnv(extraEnv),
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(process.getuid?.() === 0 ? { uid: Number(fs.statSync(dest).uid), gid: Number(fs.statSync(dest).gid) } : {}),
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stderr })));
}

/** A prefetch folder as a restore's prefetch leaves it: the planned list, its state, what landed. */
function prefetchFolder(name: string, files: Record<string, string | Buffer>): string {
  const pre = path.join(env.dir, name);
  fs.mkdirSync(pre, { recursive: true });
  for (const [f, content] of Object.entries(files)) fs.writeFileSync(path.join(pre, f), content);
  chownToPostgres(pre, ...Object.keys(files).map((f) => path.join(pre, f)));
  const envFile = path.join(env.dir, `${name}.env`);
  fs.writeFileSync(envFile, fs.readFileSync(env.envFile, 'utf8') + `WALFLOW_PREFETCH_DIR=${pre}\n`, { mode: 0o644 });
  return envFile;
}

test('a planned file the prefetch is still bringing is waited for, not downloaded again', async () => {
  const envFile = prefetchFolder('prefetch-wait', {
    '.planned': `00000002.history\n${segment}\n`,
    '.state': 'running',
  });
  const pre = path.join(env.dir, 'prefetch-wait');
  const to = path.join(dest, 'waited');
  const t0 = Date.now();
  const exited = fetchAsync(segment, to, envFile);
  await new Promise((r) => setTimeout(r, 1500));
  const fake = Buffer.alloc(2048, 9); // differs from the archive: proves the prefetched copy was used
  fs.writeFileSync(path.join(pre, segment), fake);
  fs.appendFileSync(path.join(pre, '.landed'), `${segment}\n`);
  const r = await exited;
  assert.equal(r.status, 0, r.stderr);
  assert.ok(Date.now() - t0 >= 1500, 'returned before the file landed');
  assert.ok(fs.readFileSync(to).equals(fake), 'the prefetched copy, not one downloaded meanwhile');

  // Asked again (it was taken): from the stores at once, although the prefetch is still running.
  const again = path.join(dest, 'waited-again');
  const r2 = await fetchAsync(segment, again, envFile);
  assert.equal(r2.status, 0, r2.stderr);
  assert.equal(sha(fs.readFileSync(again)), sha(expected));
});

test('a prefetch that failed is not waited for: the stores answer', () => {
  const envFile = prefetchFolder('prefetch-failed', { '.planned': `${segment}\n`, '.state': 'failed' });
  const to = path.join(dest, 'after-failed-prefetch');
  const r = fetch(segment, to, envFile);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(sha(fs.readFileSync(to)), sha(expected));
});

test('a planned file that no store has: exit above 125, never the end of the archive', () => {
  const missing = '0000000100000000000000FD';
  const envFile = prefetchFolder('prefetch-missing', { '.planned': `${missing}\n`, '.state': 'done' });
  const r = fetch(missing, path.join(dest, 'planned-missing'), envFile);
  assert.ok(r.status > 125, `exit ${r.status}: PostgreSQL would end recovery before the rest of the archive`);
  assert.match(r.stderr, new RegExp(`${missing}: recorded as archived but no store has it`));
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  const unplanned = fetch('0000000100000000000000FE', path.join(dest, 'unplanned'), envFile);
  assert.equal(unplanned.status, 1, 'a file the restore does not expect is still the end of the archive');
});

test('restore_command with --prefetch-dir: a prefetched file is moved without starting Node', async () => {
  const pre = path.join(env.dir, 'prefetch-fast');
  fs.mkdirSync(pre, { recursive: true });
  const fake = Buffer.alloc(4096, 5);
  fs.writeFileSync(path.join(pre, segment), fake);
  chownToPostgres(pre, path.join(pre, segment));
  const to = path.join(dest, 'fast');
  // No Node runtime where bin/walflow would look for one: only the launcher's own rename can succeed.
  const noNode = { WALFLOW_NODE: '/nonexistent/node' };
  const r = await fetchAsync(segment, to, env.envFile, noNode, ['--prefetch-dir', pre]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(fs.readFileSync(to).equals(fake), 'the prefetched copy');
  assert.equal(fs.existsSync(path.join(pre, segment)), false, 'used once');
  const again = await fetchAsync(segment, path.join(dest, 'fast-again'), env.envFile, noNode, ['--prefetch-dir', pre]);
  assert.notEqual(again.status, 0, 'not prefetched any more: walflow fetch (Node) is needed');
  assert.match(again.stderr, /no Node runtime/);
  const viaNode = await fetchAsync(segment, path.join(dest, 'fast-again'), env.envFile, {}, ['--prefetch-dir', pre]);
  assert.equal(viaNode.status, 0, viaNode.stderr);
  assert.equal(sha(fs.readFileSync(path.join(dest, 'fast-again'))), sha(expected), 'then from the stores');
});

test('a corrupt copy in the first store is detected by checksum and taken from the second', () => {
  corruptInStore(env, 'r2', `fetch/wal/00000001/${segment}.zst`);
  const to = path.join(dest, 'corrupt');
  const r = fetch(segment, to);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /r2.*(corrupt|decompress)/);
  assert.equal(sha(fs.readFileSync(to)), sha(expected));
});

test('every copy corrupt: exit above 125, never "no such file"', () => {
  corruptInStore(env, 'b2', `fetch/wal/00000001/${segment}.zst`); // r2's copy is already corrupt
  const to = path.join(dest, 'all-corrupt');
  const r = fetch(segment, to);
  assert.ok(r.status > 125, `exit ${r.status}`);
  assert.match(r.stderr, /r2: .*corrupt.*b2: .*corrupt/);
  assert.equal(fs.existsSync(to), false);
});
