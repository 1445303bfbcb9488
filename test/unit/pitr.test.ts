// Pure parts of backup and restore: the tar scanner, WAL ranges, key candidates, restore input.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { segmentsBetween } from '../../activities/basebackup';
import { TarScanner } from '../../lib/tarscan';
import { walKeyCandidates } from '../../lib/walkeys';
import { parseLsn } from '../../lib/wal/lsn';
import { parseWalName } from '../../lib/wal/name';
import { describeTarget, restoreWorkflowId, targetOf } from '../../lib/contracts';

describe('tar scanner', () => {
  test('captures named members from a real tar fed in odd-sized pieces', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tarscan-'));
    try {
      fs.writeFileSync(
        path.join(dir, 'backup_label'),
        'START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n',
      );
      fs.writeFileSync(path.join(dir, 'big'), Buffer.alloc(700_001, 1));
      fs.writeFileSync(path.join(dir, 'backup_manifest'), '{"WAL-Ranges": []}\n');
      fs.writeFileSync(path.join(dir, 'empty'), '');
      const tar = execFileSync('tar', ['-c', '-f', '-', '-C', dir, 'backup_label', 'big', 'empty', 'backup_manifest'], {
        maxBuffer: 8 << 20,
      });
      const scanner = new TarScanner(new Set(['backup_label', 'backup_manifest']));
      for (let off = 0, step = 1; off < tar.length; off += step, step = ((step * 7 + 3) % 1500) + 1)
        scanner.feed(tar.subarray(off, off + step));
      assert.deepEqual([...scanner.captured.keys()].sort(), ['backup_label', 'backup_manifest']);
      assert.match(scanner.captured.get('backup_label')!.toString(), /^START WAL LOCATION: 0\/2000028/);
      assert.equal(scanner.captured.get('backup_manifest')!.toString(), '{"WAL-Ranges": []}\n');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('backup WAL range', () => {
  const seg = 16 << 20;
  test('from the start segment to the one holding the last byte before stop', () => {
    assert.deepEqual(segmentsBetween(1, parseLsn('0/2000028'), parseLsn('0/2000100'), seg), [
      '000000010000000000000002',
    ]);
    assert.deepEqual(segmentsBetween(1, parseLsn('0/2FFFFF0'), parseLsn('0/4000000'), seg), [
      '000000010000000000000002',
      '000000010000000000000003',
    ]);
    assert.deepEqual(segmentsBetween(2, parseLsn('0/FF000028'), parseLsn('1/00000100'), seg), [
      '0000000200000000000000FF',
      '000000020000000100000000',
    ]);
  });
});

describe('WAL key candidates', () => {
  test('configured codec first; history files have one key', () => {
    assert.deepEqual(walKeyCandidates('c', parseWalName('000000010000000000000002')!, 'gzip:6'), [
      'c/wal/00000001/000000010000000000000002.gz',
      'c/wal/00000001/000000010000000000000002.zst',
      'c/wal/00000001/000000010000000000000002',
    ]);
    assert.deepEqual(walKeyCandidates('c', parseWalName('00000002.history')!), ['c/wal/00000002.history']);
  });
});

describe('restore input', () => {
  test('at most one target; none means the end of the archive', () => {
    assert.deepEqual(targetOf({ pgdata: '/x', targetLsn: '0/3000000' }), { kind: 'lsn', value: '0/3000000' });
    assert.deepEqual(targetOf({ pgdata: '/x', targetXid: '42' }), { kind: 'xid', value: '42' });
    assert.deepEqual(targetOf({ pgdata: '/x', immediate: true }), { kind: 'immediate' });
    assert.deepEqual(targetOf({ pgdata: '/x' }), { kind: 'end' });
    assert.throws(() => targetOf({ pgdata: '/x', immediate: true, targetName: 'p' }), /at most one/);
  });
  test('workflow id says cluster, target and start time', () => {
    const t = targetOf({ pgdata: '/x', targetName: 'before-migration' });
    assert.equal(describeTarget(t), 'name:before-migration');
    assert.equal(
      restoreWorkflowId('main', t, new Date('2026-01-31T12:00:00.123Z')),
      'restore/main/name:before-migration-20260131T120000Z',
    );
  });
});
