// The long page header at the start of every WAL segment (XLogLongPageHeaderData).
// Layout: magic u16 @0, info u16 @2, timeline u32 @4, pageaddr u64 @8, rem_len u32 @16,
// then (after alignment to 24) system identifier u64 @24, segment size u32 @32, block size u32 @36.

import { LONG_PAGE_HEADER, PAGE_MAGIC_TO_VERSION, XLP_LONG_HEADER } from './format';

export const LONG_HEADER_SIZE = LONG_PAGE_HEADER;

export interface SegmentHeader {
  magic: number;
  pgVersion: number | undefined;
  timeline: number;
  pageAddress: bigint;
  systemIdentifier: string;
  segmentSize: number;
  blockSize: number;
}

export function parseSegmentHeader(buf: Buffer): SegmentHeader | undefined {
  if (buf.length < LONG_HEADER_SIZE) return undefined;
  const info = buf.readUInt16LE(2);
  if ((info & XLP_LONG_HEADER) === 0) return undefined;
  const magic = buf.readUInt16LE(0);
  const segmentSize = buf.readUInt32LE(32);
  // A valid segment size is a power of two from 1 MiB to 1 GiB.
  if (segmentSize < 1 << 20 || segmentSize > 1 << 30 || (segmentSize & (segmentSize - 1)) !== 0) return undefined;
  return {
    magic,
    pgVersion: PAGE_MAGIC_TO_VERSION[magic],
    timeline: buf.readUInt32LE(4),
    pageAddress: buf.readBigUInt64LE(8),
    systemIdentifier: buf.readBigUInt64LE(24).toString(),
    segmentSize,
    blockSize: buf.readUInt32LE(36),
  };
}
