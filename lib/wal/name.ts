// Names of the files PostgreSQL hands to archive_command, in one place.
import { Lsn, segmentStartLsn } from './lsn';

export type WalKind = 'segment' | 'partial' | 'history' | 'backup';

export interface WalName {
  name: string;
  kind: WalKind;
  timeline: number;
  /** Segment number (segments, .partial, .backup) when parsed with a segment size; never for .history. */
  segno?: bigint;
}

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
const PARTIAL = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})\.partial$/;
const BACKUP = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})\.[0-9A-F]{8}\.backup$/;
const HISTORY = /^([0-9A-F]{8})\.history$/;

/** initdb --wal-segsize takes 1 MiB to 1 GiB: names of the smallest size have the most segments per xlog id. */
const SMALLEST_SEGMENT_SIZE = 1 << 20;

function segmentsPerXLogId(segmentSize: number): bigint {
  return 0x100000000n / BigInt(segmentSize);
}

/**
 * Without a segment size: any name that is valid for some segment size, with no segment number
 * (where the low part wraps depends on the size). With one: only names valid for that size.
 */
export function parseWalName(name: string, segmentSize?: number): WalName | undefined {
  const h = HISTORY.exec(name);
  if (h) return { name, kind: 'history', timeline: parseInt(h[1], 16) };
  for (const [re, kind] of [
    [SEGMENT, 'segment'],
    [PARTIAL, 'partial'],
    [BACKUP, 'backup'],
  ] as const) {
    const m = re.exec(name);
    if (!m) continue;
    const perId = segmentsPerXLogId(segmentSize ?? SMALLEST_SEGMENT_SIZE);
    const low = BigInt(`0x${m[3]}`);
    if (low >= perId) return undefined;
    const wal: WalName = { name, kind, timeline: parseInt(m[1], 16) };
    return segmentSize === undefined ? wal : { ...wal, segno: BigInt(`0x${m[2]}`) * perId + low };
  }
  return undefined;
}

export function segmentName(timeline: number, segno: bigint, segmentSize: number): string {
  const perId = segmentsPerXLogId(segmentSize);
  const hex = (v: bigint | number) => v.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(segno / perId)}${hex(segno % perId)}`;
}

export function timelineHex(timeline: number): string {
  return timeline.toString(16).toUpperCase().padStart(8, '0');
}

export function startLsnOf(wal: WalName, segmentSize: number): Lsn | undefined {
  return wal.segno === undefined ? undefined : segmentStartLsn(wal.segno, segmentSize);
}
