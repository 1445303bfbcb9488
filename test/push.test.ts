// The archive_command contract: durable, idempotent, refuses what it must.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { PgCluster } from '../lib/devstack/pgcluster';
import { chownToPostgres, ROOT, sleep } from '../lib/devstack/procs';
import { TestEnv } from './support/env';

let env: TestEnv;
let pg: PgCluster;
let work: string;
let segment: Buffer; // a real segment, as PostgreSQL hands it over
let segmentName: string;

before(async () => {
  env = new TestEnv('push'); // no worker: push must work alone, and files stay in the spool
  pg = await env.createCluster();
  pg.tool('pgbench', ['-i', '-s', '1', 'postgres']);
  const [r] = await pg.query<{ name: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS name');
  segmentName = r.name;
  segment = fs.readFileSync(path.join(pg.data, 'pg_wal', segmentName));
  work = path.join(env.dir, 'work');
  fs.mkdirSync(work, { recursive: true });
  chownToPostgres(work);
});

after(async () => {
  await pg?.stop('immediate');
  await env?.close();
});

function file(name: string, data: Buffer): string {
  const p = path.join(work, name);
  fs.writeFileSync(p, data);
  chownToPostgres(p);
  return p;
}

const spooled = (name: string) => path.join(env.spoolDir, 'wal', name);

test('a real segment is spooled; the same bytes again succeed; other bytes fail loudly', () => {
  const src = file('a', segment);
  let r = env.walflow(['push', src, segmentName]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(fs.readFileSync(spooled(segmentName)), segment);
  r = env.walflow(['push', src, segmentName]);
  assert.equal(r.status, 0, r.stderr);

  const other = Buffer.from(segment);
  other[segment.length - 1] ^= 0xff;
  r = env.walflow(['push', file('b', other), segmentName]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /already in the spool with different content; not overwritten/);
  assert.equal(r.stderr.trim().split('\n').length, 1, 'one-line error');
  assert.deepEqual(fs.readFileSync(spooled(segmentName)), segment, 'the spooled copy is untouched');
});

test('a truncated segment, a bad name, a missing file and a path as name are refused', () => {
  const cases: [string[], RegExp][] = [
    [[file('t', segment.subarray(0, 8192)), '000000010000000000000063'], /truncated/],
    [[file('n', segment), 'notawalfile'], /is not a WAL file name/],
    [[file('l', segment), '00000001000000000000000g'], /is not a WAL file name/],
    [[path.join(work, 'missing'), '000000010000000000000064'], /cannot open .*ENOENT/],
    [[file('p', segment), '../000000010000000000000065'], /is a path, not a file name/],
    [[file('x', Buffer.alloc(16 << 20)), '000000010000000000000066'], /no WAL segment header/],
  ];
  for (const [args, re] of cases) {
    const r = env.walflow(['push', ...args]);
    assert.notEqual(r.status, 0, `${args.join(' ')} accepted`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one-line error for ${args.join(' ')}: ${r.stderr}`);
  }
  for (const n of ['000000010000000000000063', '000000010000000000000064', '000000010000000000000066']) {
    assert.equal(fs.existsSync(spooled(n)), false, `${n} must not be spooled`);
  }
});

test('a segment from another system (cluster) is refused', () => {
  const foreign = Buffer.from(segment);
  foreign.writeBigUInt64LE(foreign.readBigUInt64LE(24) + 1n, 24);
  const next = nextName(segmentName);
  foreign.writeBigUInt64LE(foreign.readBigUInt64LE(8) + BigInt(16 << 20), 8); // header matches the name
  const r = env.walflow(['push', file('f', foreign), next]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /belongs to system .* but spool .* belongs to system/);
  assert.equal(fs.existsSync(spooled(next)), false);
});

test('.history and .backup files are spooled as they are', () => {
  const history = Buffer.from('1\t0/3000000\tno recovery target specified\n');
  let r = env.walflow(['push', file('h', history), '00000002.history']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(fs.readFileSync(spooled('00000002.history')), history);
  r = env.walflow(['push', file('e', Buffer.alloc(0)), '00000003.history']);
  assert.notEqual(r.status, 0, 'an empty history file is refused');
});

test('a crash mid-copy leaves nothing under the final name, and a retry succeeds', async () => {
  // A 1 GiB segment (a valid --wal-segsize) takes long enough to copy to be killed mid-way.
  const big = path.join(work, 'big');
  const size = 1 << 30;
  const fd = fs.openSync(big, 'w');
  const head = Buffer.from(segment.subarray(0, 40));
  head.writeUInt32LE(size, 32);
  head.writeBigUInt64LE(0n, 8); // segment 0 of timeline 1 starts at LSN 0
  fs.writeSync(fd, head, 0, 40, 0);
  fs.ftruncateSync(fd, size);
  fs.closeSync(fd);
  chownToPostgres(big);
  const name = '000000010000000000000000';
  const child = spawn(path.join(ROOT, 'bin', 'walflow'), ['push', big, name, '--env-file', env.envFile], {
    stdio: 'ignore',
  });
  const tmpDir = path.join(env.spoolDir, 'tmp');
  for (let i = 0; i < 200 && !(fs.existsSync(tmpDir) && fs.readdirSync(tmpDir).some((f) => f.startsWith(name))); i++)
    await sleep(5);
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  assert.equal(fs.existsSync(spooled(name)), false, 'no file under the final name after a crash');
  const r = env.walflow(['push', big, name]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(fs.statSync(spooled(name)).size, size);
  fs.rmSync(spooled(name));
  fs.rmSync(big);
});

test('a spool that cannot be written gives a one-line error and no partial file', () => {
  const walDir = path.join(env.spoolDir, 'wal');
  fs.chmodSync(walDir, 0o500);
  try {
    const name = nextName(nextName(segmentName));
    const data = Buffer.from(segment);
    data.writeBigUInt64LE(data.readBigUInt64LE(8) + BigInt(2 * (16 << 20)), 8);
    const r = env.walflow(['push', file('ro', data), name]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /not writable/);
    assert.equal(fs.existsSync(spooled(name)), false);
    assert.deepEqual(
      fs.readdirSync(path.join(env.spoolDir, 'tmp')).filter((f) => f.startsWith(name)),
      [],
      'temp file removed',
    );
  } finally {
    fs.chmodSync(walDir, 0o750);
  }
});

function nextName(name: string): string {
  const n = BigInt(`0x${name.slice(16)}`) + 1n;
  return name.slice(0, 16) + n.toString(16).toUpperCase().padStart(8, '0');
}
