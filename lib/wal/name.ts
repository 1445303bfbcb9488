// Names of the files PostgreSQL hands to archive_command, in one place.
import { DEFAULT_SEGMENT_SIZE, Lsn, segmentStartLsn } from './lsn';

export type WalKind = 'segment' | 'partial' | 'history' | 'backup';

export interface WalName {
  name: string;
  kind: WalKind;
  timeline: number;
  /** Segment number (segments, .partial, .backup); undefined for .history. */
  segno?: bigint;
}

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
const PARTIAL = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})\.partial$/;
const BACKUP = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})\.[0-9A-F]{8}\.backup$/;
const HISTORY = /^([0-9A-F]{8})\.history$/;

function segmentsPerXLogId(segmentSize: number): bigint {
  return 0x100000000n / BigInt(segmentSize);
}

export function parseWalName(name: string, segmentSize = DEFAULT_SEGMENT_SIZE): WalName | undefined {
  const h = HISTORY.exec(name);
  if (h) return { name, kind: 'history', timeline: parseInt(h[1], 16) };
  for (const [re, kind] of [[SEGMENT, 'segment'], [PARTIAL, 'partial'], [BACKUP, 'backup']] as const) {
    const m = re.exec(name);
    if (!m) continue;
    const perId = segmentsPerXLogId(segmentSize);
    const low = BigInt(`0x${m[3]}`);
    if (low >= perId) return undefined;
    return { name, kind, timeline: parseInt(m[1], 16), segno: BigInt(`0x${m[2]}`) * perId + low };
  }
  return undefined;
}

export function segmentName(timeline: number, segno: bigint, segmentSize = DEFAULT_SEGMENT_SIZE): string {
  const perId = segmentsPerXLogId(segmentSize);
  const hex = (v: bigint | number) => v.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(segno / perId)}${hex(segno % perId)}`;
}

export function timelineHex(timeline: number): string {
  return timeline.toString(16).toUpperCase().padStart(8, '0');
}

export function startLsnOf(wal: WalName, segmentSize = DEFAULT_SEGMENT_SIZE): Lsn | undefined {
  return wal.segno === undefined ? undefined : segmentStartLsn(wal.segno, segmentSize);
}
