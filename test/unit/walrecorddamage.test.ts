// Record headers built by hand: the parts real WAL seldom shows (origins, compressed images with
// a hole, 4-byte main data lengths) decode to the right fields, and a damaged record is refused
// with an error that says what does not fit, never read as something it is not.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventOf, pgTimestampToIso } from '../../lib/wal/events';
import {
  BKPBLOCK_HAS_DATA,
  BKPBLOCK_HAS_IMAGE,
  BKPBLOCK_SAME_REL,
  BKPIMAGE_HAS_HOLE,
  RECORD_HEADER,
  recordFormatOf,
  RM_XACT_ID,
  RM_XLOG_ID,
  XLOG_RESTORE_POINT,
  XLOG_XACT_COMMIT,
  XLR_BLOCK_ID_DATA_LONG,
  XLR_BLOCK_ID_DATA_SHORT,
  XLR_BLOCK_ID_ORIGIN,
  XLR_BLOCK_ID_TOPLEVEL_XID,
} from '../../lib/wal/format';
import { decodeRecord, WalFormatError, WalRecord } from '../../lib/wal/records';

const u8 = (n: number) => Buffer.from([n]);
const u16 = (n: number) => Buffer.from(new Uint16Array([n]).buffer);
const u32 = (n: number) => Buffer.from(new Uint32Array([n]).buffer);

/** A record: XLogRecord (only its total length matters here), then the given headers and data. */
function record(...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const header = Buffer.alloc(RECORD_HEADER);
  header.writeUInt32LE(RECORD_HEADER + body.length, 0);
  return Buffer.concat([header, body]);
}

function walRecord(rmid: number, info: number, bytes: Buffer): WalRecord {
  return { lsn: 0x1000028n, totalLength: bytes.length, xid: 731, prev: 0n, info, rmid, bytes };
}

const rejects = (bytes: Buffer, message: RegExp) =>
  assert.throws(
    () => decodeRecord(bytes),
    (e: Error) => e instanceof WalFormatError && message.test(e.message),
  );

describe('record headers', () => {
  test('origin, top-level xid, an image with a hole, a block of the same relation and long main data', () => {
    const main = Buffer.alloc(300, 7);
    const decoded = decodeRecord(
      record(
        u8(XLR_BLOCK_ID_ORIGIN),
        u16(5),
        u8(XLR_BLOCK_ID_TOPLEVEL_XID),
        u32(4242),
        // block 0: image (compressed, with a hole) and 3 bytes of data, in relation 1663/5/16384, block 9
        u8(0),
        u8(BKPBLOCK_HAS_IMAGE | BKPBLOCK_HAS_DATA),
        u16(3),
        u16(6),
        u16(100),
        u8(BKPIMAGE_HAS_HOLE | 0x04),
        u16(20),
        u32(1663),
        u32(5),
        u32(16384),
        u32(9),
        // block 1: 2 bytes of data in the same relation, block 10
        u8(1),
        u8(BKPBLOCK_HAS_DATA | BKPBLOCK_SAME_REL),
        u16(2),
        u32(10),
        u8(XLR_BLOCK_ID_DATA_LONG),
        u32(main.length),
        Buffer.alloc(6 + 3 + 2),
        main,
      ),
    );
    assert.equal(decoded.origin, 5);
    assert.equal(decoded.toplevelXid, 4242);
    assert.equal(decoded.imageBytes, 6);
    assert.deepEqual(decoded.blocks, [
      {
        id: 0,
        forkFlags: BKPBLOCK_HAS_IMAGE | BKPBLOCK_HAS_DATA,
        dataLength: 3,
        image: { length: 6, holeOffset: 100, info: BKPIMAGE_HAS_HOLE | 0x04, holeLength: 20 },
        relfileLocator: { spcOid: 1663, dbOid: 5, relNumber: 16384 },
        blockNumber: 9,
      },
      { id: 1, forkFlags: BKPBLOCK_HAS_DATA | BKPBLOCK_SAME_REL, dataLength: 2, blockNumber: 10 },
    ]);
    assert.ok(decoded.mainData.equals(main));
  });

  test('damaged records are refused with what does not fit', () => {
    const ok = record(u8(XLR_BLOCK_ID_DATA_SHORT), u8(2), Buffer.alloc(2));
    rejects(ok.subarray(0, ok.length - 1), /holds 27 bytes, its header says 28/);
    rejects(record(u8(XLR_BLOCK_ID_TOPLEVEL_XID), u16(1)), /headers run past the record's 27 bytes/);
    rejects(record(u8(0), u8(BKPBLOCK_HAS_DATA), u16(0), Buffer.alloc(16)), /block 0 data length 0 disagrees/);
    rejects(record(u8(0), u8(0), u16(4), Buffer.alloc(16)), /block 0 data length 4 disagrees/);
    rejects(
      record(u8(0), u8(BKPBLOCK_SAME_REL), u16(0), u32(1)),
      /block 0 refers to the relation of a block before it/,
    );
    rejects(record(u8(100), Buffer.alloc(8)), /unknown block id 100 at offset 24/);
    rejects(record(u8(XLR_BLOCK_ID_DATA_SHORT), u8(10), Buffer.alloc(4)), /headers end at 26, data needs 10/);
  });
});

describe('events from records', () => {
  test('a commit too short for its timestamp is an error naming the record', () => {
    const short = walRecord(RM_XACT_ID, XLOG_XACT_COMMIT, record(u8(XLR_BLOCK_ID_DATA_SHORT), u8(4), u32(1)));
    assert.throws(
      () => eventOf(short, recordFormatOf(0xd116)!),
      (e: Error) => e instanceof WalFormatError && /rmgr 1, info 0x0\) has 4 bytes of data, needs 8/.test(e.message),
    );
  });

  test('a restore point name that fills its whole field is read to the end of the field', () => {
    const name = 'n'.repeat(64);
    const data = Buffer.concat([Buffer.alloc(8), Buffer.from(name)]);
    const rp = walRecord(RM_XLOG_ID, XLOG_RESTORE_POINT, record(u8(XLR_BLOCK_ID_DATA_SHORT), u8(data.length), data));
    assert.deepEqual(eventOf(rp, recordFormatOf(0xd116)!), { kind: 'restore-point', lsn: 0x1000028n, name, time: 0n });
  });

  test('times before 2000 keep six fractional digits, counted forward from the second before', () => {
    assert.equal(pgTimestampToIso(0n), '2000-01-01T00:00:00.000000Z');
    assert.equal(pgTimestampToIso(-1n), '1999-12-31T23:59:59.999999Z');
    assert.equal(pgTimestampToIso(-1_500_000n), '1999-12-31T23:59:58.500000Z');
  });
});
