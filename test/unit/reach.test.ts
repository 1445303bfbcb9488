// Targets checked against reachable windows before a restore starts: refusals name the nearest
// reachable points; what the indexes cannot prove is never refused.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RecoveryTarget } from '../../lib/contracts';
import { refuseTarget, timeMicros } from '../../lib/wal/reach';
import { recoverableWindows } from '../../lib/wal/windows';
import { backup, lsnHex, seg, SIZE } from '../support/archived';

// Window b1 holds segments 1 to 3, segment 4 is missing, window b2 holds 5 and 6.
const windows = recoverableWindows(
  [
    seg(1, 1, {
      restorePoints: [{ name: 'nightly', time: '2026-11-23T10:01:30.000000Z', lsn: lsnHex(BigInt(SIZE) + 0x800n) }],
    }),
    seg(1, 2),
    seg(1, 3),
    seg(1, 5),
    seg(1, 6),
  ],
  [backup('b1', 1, 1), backup('b2', 1, 5)],
  SIZE,
);
const refuse = (target: RecoveryTarget) => refuseTarget(windows, target, 'latest');
const time = (value: string) => refuse({ kind: 'time', value });

describe('restore targets against reachable windows', () => {
  test('times inside a window pass, to the microsecond before its last commit', () => {
    assert.equal(time('2026-11-23T10:02:00Z'), null);
    assert.equal(time('2026-11-23 10:06:59.999998+00'), null);
    assert.equal(time('2026-11-23T10:01:00.000000Z'), null, 'the end of the backup itself');
  });

  test('a time past the last archived commit names it', () => {
    assert.equal(
      time('2026-11-23T10:06:59.999999Z'),
      'target time 2026-11-23T10:06:59.999999Z is past the last archived WAL: latest reachable on timeline 1: ' +
        'before 2026-11-23T10:06:59.999999Z (the last archived commit); restore to the end of the archive, or wait for newer WAL',
    );
  });

  test('a time in a gap names both sides', () => {
    assert.equal(
      time('2026-11-23T10:04:30Z'),
      'target time 2026-11-23T10:04:30Z is in a gap in the archive: latest reachable on timeline 1: ' +
        'before 2026-11-23T10:03:59.999999Z (the last archived commit); next after the gap: ' +
        '2026-11-23T10:05:00.000000Z (end of backup b2 on timeline 1)',
    );
  });

  test('a time before the oldest backup ends names where reach begins', () => {
    assert.match(
      time('2026-11-23T09:59:00Z')!,
      /before the end of the oldest backup: earliest reachable: 2026-11-23T10:01:00\.000000Z \(end of backup b1 on timeline 1\)$/,
    );
  });

  test('restore points, transactions and LSNs', () => {
    assert.equal(refuse({ kind: 'name', value: 'nightly' }), null);
    assert.equal(
      refuse({ kind: 'name', value: 'weekly' }),
      'restore point "weekly" is in no reachable window; reachable restore points: "nightly"',
    );
    assert.equal(refuse({ kind: 'xid', value: '250' }), null);
    assert.equal(refuse({ kind: 'xid', value: String((1n << 32n) + 250n) }), null, 'an epoch-qualified xid');
    assert.match(
      refuse({ kind: 'xid', value: '450' })!,
      /^transaction 450 ended in no reachable window; reachable transactions: 100\.\.399 on timeline 1, 500\.\.699 on timeline 1$/,
    );
    assert.equal(refuse({ kind: 'lsn', value: lsnHex(2n * BigInt(SIZE)) }), null);
    assert.match(
      refuse({ kind: 'lsn', value: lsnHex(4n * BigInt(SIZE) + 10n) })!,
      /^target LSN .* is in a gap in the archive/,
    );
    assert.equal(refuse({ kind: 'end' }), null);
    assert.equal(refuse({ kind: 'immediate' }), null);
  });

  test('what an index cannot prove is left to PostgreSQL', () => {
    const inexact = recoverableWindows([seg(1, 1), seg(1, 2, null)], [backup('b', 1, 1)], SIZE);
    assert.equal(refuseTarget(inexact, { kind: 'time', value: '2026-11-23T11:00:00Z' }, 'latest'), null);
    assert.equal(refuseTarget(inexact, { kind: 'name', value: 'any' }, 'latest'), null);
    assert.equal(refuseTarget(inexact, { kind: 'xid', value: '9999' }, 'latest'), null);
    const uncounted = recoverableWindows(
      [seg(1, 1, { restorePointCount: 3, restorePoints: [] })],
      [backup('b', 1, 1)],
      SIZE,
    );
    assert.equal(refuseTarget(uncounted, { kind: 'name', value: 'any' }, 'latest'), null);
    assert.equal(
      refuseTarget([], { kind: 'time', value: '2026-11-23T11:00:00Z' }, 'latest'),
      null,
      'no window: choosing a backup explains',
    );
    assert.equal(time('yesterday'), null, 'not a time: the input check says so');
  });

  test('a numbered timeline is judged on it and the timelines before it only', () => {
    const branched = recoverableWindows(
      [
        seg(1, 1),
        seg(1, 2),
        seg(2, 3, { timelineStart: { timeline: 2, prevTimeline: 1, lsn: lsnHex(3n * BigInt(SIZE) + 0x2000n) } }),
      ],
      [backup('b1', 1, 1)],
      SIZE,
    );
    const late = { kind: 'time', value: '2026-11-23T10:03:30Z' } as const;
    assert.equal(refuseTarget(branched, late, 'latest'), null);
    assert.equal(refuseTarget(branched, late, 2), null);
    assert.match(refuseTarget(branched, late, 1)!, /past the last archived WAL: latest reachable on timeline 1/);
  });

  test('times keep their microseconds', () => {
    assert.equal(timeMicros('2026-11-23T10:00:00.000001Z')! - timeMicros('2026-11-23T10:00:00Z')!, 1n);
    assert.equal(timeMicros('2026-11-23 11:00:00.5+01'), timeMicros('2026-11-23T10:00:00.500000Z'));
  });
});
