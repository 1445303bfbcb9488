// A full disk (ENOSPC) on a real small file system: push and the folder store fail cleanly and
// leave no temp file behind to take yet more room.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { PgCluster } from '../lib/devstack/pgcluster';
import { chownToPostgres } from '../lib/devstack/procs';
import { SpoolPaths } from '../lib/spool';
import { FsStore } from '../lib/stores/fs';
import { TestEnv } from './support/env';

let env: TestEnv;
let pg: PgCluster;
let small: string; // a tmpfs of 8 MiB: smaller than one WAL segment
let segment: string;

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .sort();
}

before(async () => {
  env = new TestEnv('enospc');
  small = path.join(env.dir, 'small');
  fs.mkdirSync(small, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', small]);
  chownToPostgres(small);
  // PostgreSQL here only makes a real segment; its own archiving goes nowhere.
  pg = await env.createCluster(["archive_command = '/bin/false'"]);
  const [r] = await pg.query<{ name: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS name');
  segment = r.name;
});

after(async () => {
  await pg?.stop('immediate');
  await env?.close();
  if (small) execFileSync('umount', [small]);
});

test('push on a full spool file system: one-line error, no temp file, nothing under a final name', () => {
  const spoolEnv = path.join(env.dir, 'small.env');
  fs.writeFileSync(
    spoolEnv,
    fs
      .readFileSync(env.envFile, 'utf8')
      .replace(/^WALFLOW_SPOOL_DIR=.*$/m, `WALFLOW_SPOOL_DIR=${small}`)
      .concat('WALFLOW_SPOOL_MAX=1GiB\n'), // the limit is not what stops it: the disk is
  );
  const r = env.walflow(['push', path.join(pg.data, 'pg_wal', segment), segment, '--env-file', spoolEnv]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /is full; free space there/);
  assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  const spool = new SpoolPaths(small, 'enospc');
  assert.deepEqual(fs.readdirSync(spool.tmpDir), [], 'no temp file left');
  assert.deepEqual(fs.readdirSync(spool.walDir), [], 'nothing under a final name');
});

test('the folder store on a full file system: the put fails, no temp file or orphan metadata left', async () => {
  const root = path.join(small, 'store');
  const store = new FsStore('full', root);
  const before = filesUnder(small);
  const body = randomBytes(12 << 20);
  await assert.rejects(
    store.putNew('c/wal/00000001/big.zst', body, { codec: 'zstd', rawSize: body.length, sha256: 'x'.repeat(64) }),
    (e: NodeJS.ErrnoException) => e.code === 'ENOSPC',
  );
  assert.deepEqual(filesUnder(small), before, 'the store added no file');
  assert.equal(await store.head('c/wal/00000001/big.zst'), undefined);
});
