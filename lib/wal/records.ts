// Walks the records of one WAL segment held in memory: page headers (long on the first page,
// short on the others), records that cross pages, a record continued from the previous segment
// (skipped with the first page's xlp_rem_len) and one that goes on into the next segment.
// Record headers are always read; a record's bytes are gathered only for the kinds the caller
// asks for, so a walk costs little more than one hop per record.
import {
  BKPBLOCK_HAS_DATA,
  BKPBLOCK_HAS_IMAGE,
  BKPBLOCK_SAME_REL,
  BKPIMAGE_COMPRESSED,
  BKPIMAGE_HAS_HOLE,
  MAX_RECORD,
  MAXALIGN,
  RecordFormat,
  recordFormatOf,
  RECORD_HEADER,
  RELFILELOCATOR_SIZE,
  RM_XLOG_ID,
  SHORT_PAGE_HEADER,
  XLOG_SWITCH,
  XLP_FIRST_IS_CONTRECORD,
  XLP_FIRST_IS_OVERWRITE_CONTRECORD,
  XLP_LONG_HEADER,
  XLR_BLOCK_ID_DATA_LONG,
  XLR_BLOCK_ID_DATA_SHORT,
  XLR_BLOCK_ID_ORIGIN,
  XLR_BLOCK_ID_TOPLEVEL_XID,
  XLR_INFO_MASK,
  XLR_MAX_BLOCK_ID,
} from './format';
import { LONG_HEADER_SIZE, parseSegmentHeader } from './header';

/** The segment cannot be read as WAL at all (not a first page, a version walflow does not read). */
export class WalFormatError extends Error {}

export interface WalRecord {
  lsn: bigint;
  totalLength: number;
  xid: number;
  prev: bigint;
  info: number;
  rmid: number;
  /** The whole record, header included. */
  bytes: Buffer;
}

/** How the readable WAL of a segment ends. */
export type SegmentEnd =
  | 'full' // the last record ends where the segment ends
  | 'continues' // the last record goes on in the next segment
  | 'switch' // an XLOG_SWITCH record: the rest of the segment is padding
  | 'end-of-wal' // zeros where the next record would start: nothing was written past here
  | 'invalid'; // a page or record that does not belong (stale bytes of a recycled file, damage)

export interface SegmentWalk {
  format: RecordFormat;
  timeline: number;
  startLsn: bigint;
  records: number;
  end: SegmentEnd;
  /** Where the last complete record ends (aligned): the segment's readable WAL stops here. */
  endLsn: bigint;
  /** Why the walk stopped early, for 'invalid'. */
  detail?: string;
}

type Gathered = { next: number; bytes?: Buffer } | { stop: SegmentEnd; detail?: string; resumeAt?: number };

const align = (n: number) => (n + MAXALIGN - 1) & ~(MAXALIGN - 1);

/**
 * Follows every complete record that starts in this segment, in LSN order, and says where and
 * why the readable WAL ends. `gather(rmid, info)` picks the records `visit` is called with,
 * bytes and all. Throws WalFormatError when the first page is not a WAL page walflow reads.
 */
export function walkSegment(
  buf: Buffer,
  visit: (r: WalRecord, format: RecordFormat) => void,
  gather: (rmid: number, info: number) => boolean = () => false,
): SegmentWalk {
  const first = parseSegmentHeader(buf);
  if (!first) throw new WalFormatError('no long page header at offset 0: not the start of a WAL segment');
  const format = recordFormatOf(first.magic);
  if (!format) {
    throw new WalFormatError(
      `page magic 0x${first.magic.toString(16)} (PostgreSQL ${first.pgVersion ?? 'unknown'}) is not a WAL format walflow reads`,
    );
  }
  const B = first.blockSize;
  if (B < 1024 || B > 65536 || (B & (B - 1)) !== 0)
    throw new WalFormatError(`block size ${B} in the first page header is not a WAL block size`);
  if (first.pageAddress % BigInt(first.segmentSize) !== 0n)
    throw new WalFormatError('the first page address is not the start of a segment');
  const limit = Math.min(buf.length, first.segmentSize) - (Math.min(buf.length, first.segmentSize) % B);
  const start = first.pageAddress;
  const lsnAt = (pos: number) => start + BigInt(pos);
  // An LSN in this segment as two 32-bit halves, so the per-record checks need no bigint: the
  // segment's offset within its 4 GiB never carries into the high half.
  const startHigh = Number(start >> 32n);
  const startLow = Number(start & 0xffffffffn);

  /** A page header other than the first: its magic and address must be this segment's. */
  function pageProblem(pos: number): string | undefined {
    if (buf.readUInt16LE(pos) !== first!.magic)
      return `page at ${pos} has magic 0x${buf.readUInt16LE(pos).toString(16)}`;
    if (buf.readUInt32LE(pos + 8) !== startLow + pos || buf.readUInt32LE(pos + 12) !== startHigh) {
      return `page at ${pos} has address ${buf.readBigUInt64LE(pos + 8)}, not ${lsnAt(pos)}`;
    }
    if (buf.readUInt16LE(pos + 2) & XLP_LONG_HEADER) return `page at ${pos} has a long header`;
    return undefined;
  }

  /** Follows `len` record bytes from `pos` across page headers; copies the first `copy` of them. */
  function follow(pos: number, len: number, copy: number): Gathered {
    const out = copy > 0 ? Buffer.allocUnsafe(copy) : undefined;
    let got = 0;
    for (;;) {
      const pageEnd = pos - (pos % B) + B;
      const n = Math.min(len - got, pageEnd - pos);
      if (out && got < copy) buf.copy(out, got, pos, pos + Math.min(n, copy - got));
      got += n;
      pos += n;
      if (got === len) return { next: pos, bytes: out };
      if (pos >= limit) return { stop: 'continues' };
      const problem = pageProblem(pos);
      if (problem) return { stop: 'invalid', detail: problem };
      const info = buf.readUInt16LE(pos + 2);
      if (!(info & XLP_FIRST_IS_CONTRECORD)) {
        // PostgreSQL gave up on a record cut short by a crash and wrote new WAL over its rest.
        if (info & XLP_FIRST_IS_OVERWRITE_CONTRECORD) return { stop: 'invalid', resumeAt: pos + SHORT_PAGE_HEADER };
        return { stop: 'invalid', detail: `page at ${pos} does not continue the record before it` };
      }
      const remLen = buf.readUInt32LE(pos + 16);
      if (remLen !== len - got)
        return { stop: 'invalid', detail: `page at ${pos} continues ${remLen} bytes, expected ${len - got}` };
      pos += SHORT_PAGE_HEADER;
    }
  }

  const result = (end: SegmentEnd, endPos: number, detail?: string): SegmentWalk => ({
    format,
    timeline: first.timeline,
    startLsn: start,
    records,
    end,
    endLsn: lsnAt(endPos),
    ...(detail ? { detail } : {}),
  });

  let records = 0;
  let pos = LONG_HEADER_SIZE;
  let endPos = pos;
  let prevPos = -1;
  const firstInfo = buf.readUInt16LE(2);
  if (firstInfo & XLP_FIRST_IS_CONTRECORD) {
    const skipped = follow(pos, buf.readUInt32LE(16), 0);
    if ('stop' in skipped && skipped.resumeAt === undefined) return result(skipped.stop, pos, skipped.detail);
    pos = endPos = 'stop' in skipped ? skipped.resumeAt! : align(skipped.next);
  }

  for (;;) {
    if (pos % B === 0) {
      if (pos >= limit) return result('full', pos);
      const problem = pageProblem(pos);
      if (problem) return result('invalid', endPos, problem);
      if (buf.readUInt16LE(pos + 2) & XLP_FIRST_IS_CONTRECORD)
        return result('invalid', endPos, `page at ${pos} continues a record that ended before it`);
      pos += SHORT_PAGE_HEADER;
    }
    const totalLength = buf.readUInt32LE(pos);
    if (totalLength === 0) return result('end-of-wal', endPos);
    if (totalLength < RECORD_HEADER || totalLength > MAX_RECORD) {
      return result('invalid', endPos, `record at ${pos} has length ${totalLength}`);
    }
    const pageEnd = pos - (pos % B) + B;
    let header: Buffer = buf;
    let at = pos;
    let next: number;
    if (pos + totalLength <= pageEnd) {
      next = pos + totalLength;
    } else {
      const followed = follow(pos, totalLength, RECORD_HEADER);
      if ('stop' in followed) {
        if (followed.resumeAt !== undefined) {
          pos = endPos = followed.resumeAt;
          prevPos = -1;
          continue;
        }
        return result(followed.stop, endPos, followed.detail);
      }
      next = followed.next;
      header = followed.bytes!;
      at = 0;
    }
    if (
      prevPos >= 0 &&
      (header.readUInt32LE(at + 8) !== startLow + prevPos || header.readUInt32LE(at + 12) !== startHigh)
    ) {
      return result(
        'invalid',
        endPos,
        `record at ${pos} points back to ${header.readBigUInt64LE(at + 8)}, not to the record before it at ${lsnAt(prevPos)}`,
      );
    }
    const rmid = header[at + 17];
    const info = header[at + 16];
    if (gather(rmid, info)) {
      const bytes =
        header === buf ? buf.subarray(pos, next) : (follow(pos, totalLength, totalLength) as { bytes: Buffer }).bytes;
      visit(
        {
          lsn: lsnAt(pos),
          totalLength,
          xid: header.readUInt32LE(at + 4),
          prev: header.readBigUInt64LE(at + 8),
          info,
          rmid,
          bytes,
        },
        format,
      );
    }
    records++;
    prevPos = pos;
    pos = endPos = align(next);
    if (rmid === RM_XLOG_ID && (info & ~XLR_INFO_MASK) === XLOG_SWITCH) return result('switch', endPos);
  }
}

export interface BlockRef {
  id: number;
  forkFlags: number;
  dataLength: number;
  image?: { length: number; holeOffset: number; info: number; holeLength?: number };
  relfileLocator?: { spcOid: number; dbOid: number; relNumber: number };
  blockNumber: number;
}

export interface DecodedRecord {
  blocks: BlockRef[];
  origin?: number;
  toplevelXid?: number;
  /** The record's main data: the last bytes of the record, after every block's image and data. */
  mainData: Buffer;
  /** Bytes of full-page images (pg_waldump's "fpi" length). */
  imageBytes: number;
}

/** Decodes the headers between a record's header and its data (XLogRecordBlockHeader and friends). */
export function decodeRecord(bytes: Buffer): DecodedRecord {
  const total = bytes.readUInt32LE(0);
  if (bytes.length !== total) throw new WalFormatError(`record holds ${bytes.length} bytes, its header says ${total}`);
  const blocks: BlockRef[] = [];
  let pos = RECORD_HEADER;
  let dataTotal = 0;
  let mainLength = 0;
  let imageBytes = 0;
  let origin: number | undefined;
  let toplevelXid: number | undefined;
  const need = (n: number) => {
    if (pos + n > total) throw new WalFormatError(`record headers run past the record's ${total} bytes`);
  };
  while (total - pos > dataTotal) {
    need(1);
    const id = bytes[pos++];
    if (id === XLR_BLOCK_ID_DATA_SHORT) {
      need(1);
      mainLength = bytes[pos++];
      dataTotal += mainLength;
      break; // the main data header always comes last
    } else if (id === XLR_BLOCK_ID_DATA_LONG) {
      need(4);
      mainLength = bytes.readUInt32LE(pos);
      pos += 4;
      dataTotal += mainLength;
      break;
    } else if (id === XLR_BLOCK_ID_ORIGIN) {
      need(2);
      origin = bytes.readUInt16LE(pos);
      pos += 2;
    } else if (id === XLR_BLOCK_ID_TOPLEVEL_XID) {
      need(4);
      toplevelXid = bytes.readUInt32LE(pos);
      pos += 4;
    } else if (id <= XLR_MAX_BLOCK_ID) {
      need(3);
      const forkFlags = bytes[pos];
      const dataLength = bytes.readUInt16LE(pos + 1);
      pos += 3;
      if (!(forkFlags & BKPBLOCK_HAS_DATA) !== (dataLength === 0))
        throw new WalFormatError(`block ${id} data length ${dataLength} disagrees with its flags`);
      const block: BlockRef = { id, forkFlags, dataLength, blockNumber: 0 };
      dataTotal += dataLength;
      if (forkFlags & BKPBLOCK_HAS_IMAGE) {
        need(5);
        const image: NonNullable<BlockRef['image']> = {
          length: bytes.readUInt16LE(pos),
          holeOffset: bytes.readUInt16LE(pos + 2),
          info: bytes[pos + 4],
        };
        pos += 5;
        if (image.info & BKPIMAGE_HAS_HOLE && image.info & BKPIMAGE_COMPRESSED) {
          need(2);
          image.holeLength = bytes.readUInt16LE(pos);
          pos += 2;
        }
        block.image = image;
        dataTotal += image.length;
        imageBytes += image.length;
      }
      if (!(forkFlags & BKPBLOCK_SAME_REL)) {
        need(RELFILELOCATOR_SIZE);
        block.relfileLocator = {
          spcOid: bytes.readUInt32LE(pos),
          dbOid: bytes.readUInt32LE(pos + 4),
          relNumber: bytes.readUInt32LE(pos + 8),
        };
        pos += RELFILELOCATOR_SIZE;
      } else if (blocks.length === 0) {
        throw new WalFormatError(`block ${id} refers to the relation of a block before it, and there is none`);
      }
      need(4);
      block.blockNumber = bytes.readUInt32LE(pos);
      pos += 4;
      blocks.push(block);
    } else {
      throw new WalFormatError(`unknown block id ${id} at offset ${pos - 1} of the record`);
    }
  }
  if (total - pos !== dataTotal)
    throw new WalFormatError(`record of ${total} bytes: headers end at ${pos}, data needs ${dataTotal}`);
  return { blocks, origin, toplevelXid, mainData: bytes.subarray(total - mainLength), imageBytes };
}
