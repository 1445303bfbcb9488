// WALFLOW_SPOOL_MAX: sizes with units, and what counts towards the limit.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { SpoolPaths } from '../../lib/spool';
import { fits, parseByteSize, spoolHeadroom, spoolLimit, spoolUsage } from '../../lib/spoollimit';

const MiB = 2 ** 20;

describe('spool limit', () => {
  test('sizes: bytes, binary and decimal units, anything else refused with what to write', () => {
    assert.equal(parseByteSize('1000000'), 1_000_000);
    assert.equal(parseByteSize('512MiB'), 512 * MiB);
    assert.equal(parseByteSize('20GiB'), 20 * 2 ** 30);
    assert.equal(parseByteSize('1.5g'), 1.5 * 2 ** 30);
    assert.equal(parseByteSize('2GB'), 2e9);
    for (const bad of ['', '0', '-1', '12 parsecs', 'MiB'])
      assert.throws(() => parseByteSize(bad), /not a size: .* e\.g\. 512MiB, 20GiB/);
    assert.throws(() => spoolLimit('lots', os.tmpdir()), /^Error: WALFLOW_SPOOL_MAX: not a size/);
  });

  test('unset: a quarter of the file system the spool is on', () => {
    const st = fs.statfsSync(os.tmpdir());
    assert.equal(spoolLimit(undefined, os.tmpdir()), Math.floor(st.blocks * st.bsize * 0.25));
  });

  test('usage: files and staged copies, oldest first; a file not staged yet counts twice', () => {
    const spool = new SpoolPaths(fs.mkdtempSync(path.join(os.tmpdir(), 'spoollimit-')), 'c');
    fs.mkdirSync(spool.walDir, { recursive: true });
    fs.mkdirSync(spool.stagedDir, { recursive: true });
    const put = (file: string, bytes: number, ageMs: number) => {
      fs.writeFileSync(file, Buffer.alloc(bytes));
      const t = new Date(Date.now() - ageMs);
      fs.utimesSync(file, t, t);
    };
    put(spool.wal('000000010000000000000002'), 1000, 1_000);
    put(spool.wal('000000010000000000000001'), 1000, 2_000);
    put(spool.staged('000000010000000000000001', '.zst'), 100, 0);
    put(spool.wal('00000002.history'), 50, 3_000);
    put(spool.staged('00000002.history', ''), 50, 0);
    const u = spoolUsage(spool);
    assert.deepEqual(
      u.files.map((f) => [f.name, f.bytes]),
      [
        ['00000002.history', 100],
        ['000000010000000000000001', 1100],
        ['000000010000000000000002', 2000],
      ],
    );
    assert.equal(u.bytes, 3200);
    fs.rmSync(spool.root, { recursive: true });
  });

  test('a file fits with room for its compressed copy', () => {
    assert.equal(fits(96 * MiB, 16 * MiB, 128 * MiB), true);
    assert.equal(fits(97 * MiB, 16 * MiB, 128 * MiB), false);
  });

  test('headroom: half the limit, at most eight of the largest file', () => {
    assert.equal(spoolHeadroom(64 * MiB, 16 * MiB), 32 * MiB);
    assert.equal(spoolHeadroom(20 * 2 ** 30, 16 * MiB), 128 * MiB);
  });
});
