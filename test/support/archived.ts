// Archived segments and backups as the catalog describes them, for the pure window and reach
// rules: segment n of a 16 MiB timeline holds commits from 10:0n:00.000001 to 10:0n:59.999999
// and xids 100n..100n+99.
import type { SegmentIndex } from '../../lib/wal/segmentindex';
import { segmentName } from '../../lib/wal/name';
import type { ArchivedSegment } from '../../lib/wal/windows';

export const SIZE = 16 << 20;

export const lsnHex = (n: bigint) =>
  `${(n >> 32n).toString(16).toUpperCase()}/${(n & 0xffffffffn).toString(16).toUpperCase()}`;

/** `index` null: a segment archived without an index. */
export function seg(tli: number, segno: number, index: Partial<SegmentIndex> | null = {}): ArchivedSegment {
  const start = BigInt(segno) * BigInt(SIZE);
  return {
    timeline: tli,
    name: segmentName(tli, BigInt(segno), SIZE),
    startLsn: start,
    index: index && {
      v: 1,
      pg: 15,
      records: 10,
      end: 'full',
      endLsn: lsnHex(start + BigInt(SIZE)),
      commits: 1,
      aborts: 0,
      prepares: 0,
      commitTimes: [`2026-11-23T10:0${segno}:00.000001Z`, `2026-11-23T10:0${segno}:59.999999Z`],
      commitXids: [100 * segno, 100 * segno + 99],
      ...index,
    },
  };
}

/** A complete backup that ended `offset` bytes into segment `segno`, at 10:0n:00. */
export const backup = (id: string, tli: number, segno: number, offset = 0x100) => ({
  backupId: id,
  timeline: tli,
  stopLsn: BigInt(segno) * BigInt(SIZE) + BigInt(offset),
  stoppedAt: `2026-11-23T10:0${segno}:00.000Z`,
});
