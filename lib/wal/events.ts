// The records a restore can stop at or must know about, read from their main data: transaction
// ends (RM_XACT_ID) with their time and xid, restore points, WAL switches and the start of a
// new timeline (RM_XLOG_ID).
import {
  PG_EPOCH_UNIX_MICROS,
  PREPARE_TIME_OFFSET,
  PREPARE_XID_OFFSET,
  PREV_TLI_OFFSET,
  RecordFormat,
  RESTORE_POINT_NAME_MAX,
  RM_XACT_ID,
  RM_XLOG_ID,
  SHARED_INVAL_MESSAGE_SIZE,
  TLI_OFFSET,
  XACT_XINFO_HAS_DBINFO,
  XACT_XINFO_HAS_DROPPED_STATS,
  XACT_XINFO_HAS_INVALS,
  XACT_XINFO_HAS_RELFILELOCATORS,
  XACT_XINFO_HAS_SUBXACTS,
  XACT_XINFO_HAS_TWOPHASE,
  RELFILELOCATOR_SIZE,
  XLOG_CHECKPOINT_ONLINE,
  XLOG_CHECKPOINT_SHUTDOWN,
  XLOG_END_OF_RECOVERY,
  XLOG_RESTORE_POINT,
  XLOG_SWITCH,
  XLOG_XACT_ABORT,
  XLOG_XACT_ABORT_PREPARED,
  XLOG_XACT_COMMIT,
  XLOG_XACT_COMMIT_PREPARED,
  XLOG_XACT_HAS_INFO,
  XLOG_XACT_OPMASK,
  XLOG_XACT_PREPARE,
  XLR_INFO_MASK,
} from './format';
import { decodeRecord, WalFormatError, WalRecord } from './records';

export type XactEnd = 'commit' | 'abort' | 'commit-prepared' | 'abort-prepared';

/** Times are PostgreSQL's TimestampTz (see pgTimestampToIso): converted only where kept. */
export type WalEvent =
  | { kind: XactEnd | 'prepare'; lsn: bigint; xid: number; time: bigint }
  | { kind: 'restore-point'; lsn: bigint; name: string; time: bigint }
  | { kind: 'switch'; lsn: bigint }
  | { kind: 'end-of-recovery'; lsn: bigint; timeline: number; prevTimeline: number; time: bigint }
  | { kind: 'checkpoint'; lsn: bigint; shutdown: boolean; timeline: number; prevTimeline: number };

const XACT_ENDS: Readonly<Record<number, XactEnd>> = {
  [XLOG_XACT_COMMIT]: 'commit',
  [XLOG_XACT_ABORT]: 'abort',
  [XLOG_XACT_COMMIT_PREPARED]: 'commit-prepared',
  [XLOG_XACT_ABORT_PREPARED]: 'abort-prepared',
};

/** The records whose bytes eventOf needs: pass to walkSegment as its gather filter. */
export function carriesEvent(rmid: number, info: number): boolean {
  if (rmid === RM_XACT_ID) {
    const op = info & XLOG_XACT_OPMASK;
    return op in XACT_ENDS || op === XLOG_XACT_PREPARE;
  }
  if (rmid === RM_XLOG_ID) {
    const kind = info & ~XLR_INFO_MASK;
    return (
      kind === XLOG_SWITCH ||
      kind === XLOG_RESTORE_POINT ||
      kind === XLOG_END_OF_RECOVERY ||
      kind === XLOG_CHECKPOINT_SHUTDOWN ||
      kind === XLOG_CHECKPOINT_ONLINE
    );
  }
  return false;
}

/** TimestampTz (microseconds since 2000-01-01 UTC) as ISO 8601 with all six fractional digits. */
export function pgTimestampToIso(micros: bigint): string {
  const unix = micros + PG_EPOCH_UNIX_MICROS;
  let seconds = unix / 1_000_000n;
  let fraction = unix % 1_000_000n;
  if (fraction < 0n) {
    fraction += 1_000_000n;
    seconds -= 1n;
  }
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${fraction.toString().padStart(6, '0')}Z`;
}

export function eventOf(record: WalRecord, format: RecordFormat): WalEvent | undefined {
  if (!carriesEvent(record.rmid, record.info)) return undefined;
  const { lsn } = record;
  const data = decodeRecord(record.bytes).mainData;
  const need = (n: number) => {
    if (data.length < n)
      throw new WalFormatError(
        `record at ${lsn} (rmgr ${record.rmid}, info 0x${record.info.toString(16)}) has ${data.length} bytes of data, needs ${n}`,
      );
  };
  if (record.rmid === RM_XACT_ID) {
    const op = record.info & XLOG_XACT_OPMASK;
    if (op === XLOG_XACT_PREPARE) {
      need(PREPARE_TIME_OFFSET + 8);
      return {
        kind: 'prepare',
        lsn,
        xid: data.readUInt32LE(PREPARE_XID_OFFSET),
        time: data.readBigInt64LE(PREPARE_TIME_OFFSET),
      };
    }
    need(8);
    const time = data.readBigInt64LE(0);
    const twophaseXid =
      record.info & XLOG_XACT_HAS_INFO
        ? twophaseXidOf(data, op === XLOG_XACT_COMMIT || op === XLOG_XACT_COMMIT_PREPARED, format, need)
        : undefined;
    return { kind: XACT_ENDS[op], lsn, xid: twophaseXid ?? record.xid, time };
  }
  switch (record.info & ~XLR_INFO_MASK) {
    case XLOG_SWITCH:
      return { kind: 'switch', lsn };
    case XLOG_RESTORE_POINT: {
      need(8 + 1);
      const raw = data.subarray(8, 8 + RESTORE_POINT_NAME_MAX);
      const nul = raw.indexOf(0);
      return {
        kind: 'restore-point',
        lsn,
        name: raw.subarray(0, nul < 0 ? raw.length : nul).toString('utf8'),
        time: data.readBigInt64LE(0),
      };
    }
    case XLOG_END_OF_RECOVERY:
      need(PREV_TLI_OFFSET + 4);
      return {
        kind: 'end-of-recovery',
        lsn,
        time: data.readBigInt64LE(0),
        timeline: data.readUInt32LE(TLI_OFFSET),
        prevTimeline: data.readUInt32LE(PREV_TLI_OFFSET),
      };
    default: // checkpoints
      need(PREV_TLI_OFFSET + 4);
      return {
        kind: 'checkpoint',
        lsn,
        shutdown: (record.info & ~XLR_INFO_MASK) === XLOG_CHECKPOINT_SHUTDOWN,
        timeline: data.readUInt32LE(TLI_OFFSET),
        prevTimeline: data.readUInt32LE(PREV_TLI_OFFSET),
      };
  }
}

/**
 * The xid a commit or abort of a prepared transaction names (xl_xact_twophase), found by stepping
 * over the optional parts that come before it in xact.h's order.
 */
function twophaseXidOf(
  data: Buffer,
  commit: boolean,
  format: RecordFormat,
  need: (n: number) => void,
): number | undefined {
  need(12);
  const xinfo = data.readUInt32LE(8);
  if (!(xinfo & XACT_XINFO_HAS_TWOPHASE)) return undefined;
  let pos = 12;
  const counted = (itemSize: number) => {
    need(pos + 4);
    const n = data.readInt32LE(pos);
    pos += 4 + n * itemSize;
  };
  if (xinfo & XACT_XINFO_HAS_DBINFO) pos += 8;
  if (xinfo & XACT_XINFO_HAS_SUBXACTS) counted(4);
  if (xinfo & XACT_XINFO_HAS_RELFILELOCATORS) counted(RELFILELOCATOR_SIZE);
  if (xinfo & XACT_XINFO_HAS_DROPPED_STATS) counted(format.xactStatsItemSize);
  if (commit && xinfo & XACT_XINFO_HAS_INVALS) counted(SHARED_INVAL_MESSAGE_SIZE);
  need(pos + 4);
  return data.readUInt32LE(pos);
}
