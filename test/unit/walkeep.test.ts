// Pure: timeline history files and which WAL a store keeps for its kept backups.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KeptWal, tallyKept, walKeepRule } from '../../lib/wal/keep';
import { parseLsn } from '../../lib/wal/lsn';
import { parseWalName, WalName } from '../../lib/wal/name';
import { onPathOf, parseHistory } from '../../lib/wal/timeline';

const MiB = 1024 * 1024;
const wal = (name: string, segmentSize = 16 * MiB): WalName => parseWalName(name, segmentSize)!;

describe('timeline history files', () => {
  test('one switch per ancestor, oldest first; comments and blank lines skipped', () => {
    const text =
      '# made by hand\n1\t0/4800000\tno recovery target specified\n\n2\t0/A0000D8\tbefore 2026-11-23 12:00:00+00\n';
    assert.deepEqual(parseHistory(text), [
      { timeline: 1, switchLsn: parseLsn('0/4800000') },
      { timeline: 2, switchLsn: parseLsn('0/A0000D8') },
    ]);
  });

  test('a line PostgreSQL would refuse is an error naming it', () => {
    assert.throws(
      () => parseHistory('1\tnot-an-lsn\treason\n'),
      /not a timeline history line: "1\tnot-an-lsn\treason"/,
    );
  });

  test("a backup is on a timeline's path when that timeline left the backup's timeline at or after its start", () => {
    const history2 = parseHistory('1\t0/4800000\tx\n');
    assert.equal(onPathOf(1, undefined, 1, parseLsn('0/9000028')), true, 'its own timeline');
    assert.equal(onPathOf(2, history2, 1, parseLsn('0/3000028')), true, 'started before the switch');
    assert.equal(onPathOf(2, history2, 1, parseLsn('0/4800000')), true, 'started at the switch');
    assert.equal(onPathOf(2, history2, 1, parseLsn('0/9000028')), false, 'started after timeline 2 branched off');
    assert.equal(onPathOf(2, undefined, 1, parseLsn('0/3000028')), false, 'no history: no path known');
    assert.equal(onPathOf(1, history2, 2, parseLsn('0/5000028')), false, 'an ancestor does not descend from its child');
  });
});

describe('WAL keep rule', () => {
  // B1 on timeline 1 at segment 9; timeline 2 branched from 1 at 0/4800000 (a restore to
  // before a mistake, promoted); B2 on timeline 2 at segment 5, lower than B1.
  const b1 = { backupId: 'B1', timeline: 1, startLsn: '0/9000028' };
  const b2 = { backupId: 'B2', timeline: 2, startLsn: '0/5000060' };
  const histories = new Map([[2, parseHistory('1\t0/4800000\tbefore the mistake\n')]]);
  const keep = walKeepRule([b2, b1], histories, 16 * MiB);

  test('each backup keeps its own timeline from its start, whichever starts lower', () => {
    assert.deepEqual(keep(wal('000000020000000000000005')), { keep: true, reason: 'backup B2 on timeline 2' });
    assert.deepEqual(keep(wal('000000020000000000000007')), { keep: true, reason: 'backup B2 on timeline 2' });
    assert.deepEqual(keep(wal('000000010000000000000009')), { keep: true, reason: 'backup B1 on timeline 1' });
    assert.deepEqual(keep(wal('000000010000000000000009.00000028.backup')), {
      keep: true,
      reason: 'backup B1 on timeline 1',
    });
  });

  test("what no kept backup needs stays while it is not before every kept backup's start", () => {
    const v = keep(wal('000000010000000000000006'));
    assert.equal(v.keep, true);
    assert.match(
      v.reason,
      /no kept backup needs it, but it is not before 0\/5000060, where the earliest kept backup B2 starts/,
    );
  });

  test("before every kept backup's start it goes, on any timeline", () => {
    for (const name of ['000000010000000000000003', '000000010000000000000004.partial', '000000020000000000000004']) {
      assert.deepEqual(
        keep(wal(name)),
        { keep: false, reason: 'WAL before 0/5000060, where the earliest kept backup B2 starts' },
        name,
      );
    }
  });

  test('history files are never deleted', () => {
    assert.deepEqual(keep(wal('00000002.history')), { keep: true, reason: 'history files are never deleted' });
  });

  test('a backup keeps the timelines descending from it, through every generation', () => {
    const b = { backupId: 'B', timeline: 1, startLsn: '0/3000028' };
    const h = new Map([
      [2, parseHistory('1\t0/6000000\tx\n')],
      [3, parseHistory('1\t0/6000000\tx\n2\t0/8000000\ty\n')],
    ]);
    const k = walKeepRule([b], h, 16 * MiB);
    assert.deepEqual(k(wal('000000020000000000000006')), {
      keep: true,
      reason: 'backup B on timeline 1, which timeline 2 descends from',
    });
    assert.deepEqual(k(wal('000000030000000000000008')), {
      keep: true,
      reason: 'backup B on timeline 1, which timeline 3 descends from',
    });
    assert.equal(k(wal('000000010000000000000002')).keep, false);
  });

  test('a timeline whose history file the store lacks keeps what is not before the earliest kept start', () => {
    const k = walKeepRule([{ backupId: 'B', timeline: 1, startLsn: '0/3000028' }], new Map(), 16 * MiB);
    assert.match(k(wal('000000030000000000000004')).reason, /no kept backup needs it/);
    assert.equal(k(wal('000000030000000000000004')).keep, true);
    assert.equal(k(wal('000000030000000000000002')).keep, false);
  });

  test('no kept backup: everything stays', () => {
    const k = walKeepRule([], histories, 16 * MiB);
    assert.equal(k(wal('000000010000000000000001')).keep, true);
  });

  test('segment numbers follow the segment size (64 MiB)', () => {
    // 0/9000028 lies in 64 MiB segment 2.
    const k = walKeepRule([{ backupId: 'B', timeline: 1, startLsn: '0/9000028' }], new Map(), 64 * MiB);
    assert.equal(k(wal('000000010000000000000002', 64 * MiB)).keep, true);
    assert.equal(k(wal('000000010000000000000001', 64 * MiB)).keep, false);
  });

  test("the dry run's ranges: one per timeline and reason, from the first file to the last", () => {
    const ranges: KeptWal[] = [];
    for (const name of [
      '000000020000000000000007',
      '000000020000000000000005',
      '000000020000000000000006',
      '000000010000000000000009',
      '00000001000000000000000A',
    ]) {
      tallyKept(ranges, wal(name), keep(wal(name)).reason);
    }
    assert.deepEqual(ranges, [
      {
        timeline: 2,
        from: '000000020000000000000005',
        to: '000000020000000000000007',
        files: 3,
        reason: 'backup B2 on timeline 2',
      },
      {
        timeline: 1,
        from: '000000010000000000000009',
        to: '00000001000000000000000A',
        files: 2,
        reason: 'backup B1 on timeline 1',
      },
    ]);
  });
});
