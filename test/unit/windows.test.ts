// Reachable windows from segment indexes and backups: gaps, later backups, timelines that
// branch off inside or outside a parent's window, segments without an index.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { segmentName } from '../../lib/wal/name';
import { recoverableWindows, summarizeWindows } from '../../lib/wal/windows';
import { backup, lsnHex, seg, SIZE } from '../support/archived';

describe('recoverable windows', () => {
  test('a gap ends a window; a backup after it opens the next', () => {
    const segments = [1, 2, 3, 5, 6].map((n) => seg(1, n));
    const [t] = recoverableWindows(segments, [backup('b1', 1, 1), backup('b1b', 1, 2), backup('b2', 1, 5)], SIZE);
    assert.deepEqual(t.gaps, [{ from: segmentName(1, 4n, SIZE), to: segmentName(1, 4n, SIZE) }]);
    assert.deepEqual(
      t.windows.map((w) => [w.from.backupId, w.to.segment, w.to.lastCommit, w.segments]),
      [
        ['b1', segmentName(1, 3n, SIZE), '2026-11-23T10:03:59.999999Z', 3], // b1b starts inside b1's window: one window
        ['b2', segmentName(1, 6n, SIZE), '2026-11-23T10:06:59.999999Z', 2],
      ],
    );
  });

  test('no backup: no window, whatever WAL there is', () => {
    const [t] = recoverableWindows([seg(1, 1), seg(1, 2)], [], SIZE);
    assert.deepEqual(t.windows, []);
  });

  test('restore points after the window start only; counted ones the index left out; exactness', () => {
    const points = (segno: number, names: string[]) =>
      names.map((name, i) => ({
        name,
        time: `2026-11-23T10:0${segno}:1${i}.000000Z`,
        lsn: lsnHex(BigInt(segno) * BigInt(SIZE) + BigInt(0x80 + i * 0x100)),
      }));
    const segments = [
      seg(1, 1, { restorePoints: points(1, ['before-backup', 'after-backup']), restorePointCount: 2 }),
      seg(1, 2, { restorePoints: points(2, ['kept']), restorePointCount: 5 }),
      seg(1, 3, null),
    ];
    const [t] = recoverableWindows(segments, [backup('b', 1, 1, 0x100)], SIZE);
    const [w] = t.windows;
    assert.deepEqual(
      w.restorePoints.map((p) => p.name),
      ['after-backup', 'kept'],
    );
    assert.equal(w.restorePointsUncounted, 4);
    assert.equal(w.exact, false, 'a segment without an index');
    assert.equal(w.to.lastCommit, '2026-11-23T10:02:59.999999Z');
  });

  test('a timeline branching inside a parent window inherits it; one branching past a gap does not', () => {
    const segments = [
      seg(1, 1),
      seg(1, 2),
      seg(1, 3),
      seg(1, 5),
      // Timeline 2 branched at the end of segment 3's successor: its first segment is 4.
      seg(2, 4, { timelineStart: { timeline: 2, prevTimeline: 1, lsn: lsnHex(4n * BigInt(SIZE) + 0x2000n) } }),
      seg(2, 5),
      // Timeline 3 branched from timeline 1 in segment 6, after timeline 1's gap at 4.
      seg(3, 6, { timelineStart: { timeline: 3, prevTimeline: 1, lsn: lsnHex(6n * BigInt(SIZE) + 0x2000n) } }),
    ];
    const [t1, t2, t3] = recoverableWindows(segments, [backup('b1', 1, 1)], SIZE);
    assert.deepEqual(
      t1.windows.map((w) => w.to.segment),
      [segmentName(1, 3n, SIZE)],
    );
    assert.deepEqual(
      t2.windows.map((w) => [w.from.parentTimeline, w.from.lsn, w.to.segment]),
      [[1, lsnHex(4n * BigInt(SIZE) + 0x2000n), segmentName(2, 5n, SIZE)]],
    );
    assert.deepEqual(t3.windows, []);
  });

  test('the memo summary stays small however many timelines there are', () => {
    const segments = Array.from({ length: 10 }, (_, i) => seg(i + 1, 1));
    const summary = summarizeWindows(
      recoverableWindows(
        segments,
        segments.map((s, i) => backup(`b${i + 1}`, s.timeline, 1)),
        SIZE,
      ),
    );
    assert.deepEqual(
      summary.timelines.map((t) => t.timeline),
      [7, 8, 9, 10],
    );
    assert.equal(summary.more, 6);
    assert.deepEqual(summary.timelines[3].latest, {
      from: 'backup b10',
      lastCommit: '2026-11-23T10:01:59.999999Z',
      restorePoints: 0,
    });
  });
});
