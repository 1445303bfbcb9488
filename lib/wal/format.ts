// PostgreSQL's WAL format facts that walflow's reader depends on, per major version (records:
// 15 to 18). The unit tests compare the reader with pg_waldump on real WAL.

/** XLOG_PAGE_MAGIC (the first two bytes of every page) per PostgreSQL major version, from 12 on. */
export const PAGE_MAGIC_TO_VERSION: Readonly<Record<number, number>> = {
  0xd101: 12,
  0xd106: 13,
  0xd10d: 14,
  0xd110: 15,
  0xd113: 16,
  0xd116: 17,
  0xd118: 18,
};

/** What differs between the versions whose records walflow reads. */
export interface RecordFormat {
  pgVersion: number;
  /** sizeof(xl_xact_stats_item) in commit and abort records (its object id became 64-bit in 18). */
  xactStatsItemSize: number;
}

const RECORD_FORMATS: Readonly<Record<number, RecordFormat>> = {
  15: { pgVersion: 15, xactStatsItemSize: 12 },
  16: { pgVersion: 16, xactStatsItemSize: 12 },
  17: { pgVersion: 17, xactStatsItemSize: 12 },
  18: { pgVersion: 18, xactStatsItemSize: 16 },
};

export function recordFormatOf(pageMagic: number): RecordFormat | undefined {
  const version = PAGE_MAGIC_TO_VERSION[pageMagic];
  return version === undefined ? undefined : RECORD_FORMATS[version];
}

// Page headers (XLogPageHeaderData, XLogLongPageHeaderData), MAXALIGNed to 8.
export const SHORT_PAGE_HEADER = 24;
export const LONG_PAGE_HEADER = 40;
export const XLP_FIRST_IS_CONTRECORD = 0x0001;
export const XLP_LONG_HEADER = 0x0002;
export const XLP_FIRST_IS_OVERWRITE_CONTRECORD = 0x0008;
export const MAXALIGN = 8;

// Record header (XLogRecord): tot_len u32 @0, xid u32 @4, prev u64 @8, info u8 @16, rmid u8 @17, crc u32 @20.
export const RECORD_HEADER = 24;
/** Largest record PostgreSQL writes (XLogRecordMaxSize). */
export const MAX_RECORD = 1020 * 1024 * 1024;
export const XLR_INFO_MASK = 0x0f;

// Headers between the record header and the data (XLogRecordBlockHeader and friends).
export const XLR_MAX_BLOCK_ID = 32;
export const XLR_BLOCK_ID_DATA_SHORT = 255;
export const XLR_BLOCK_ID_DATA_LONG = 254;
export const XLR_BLOCK_ID_ORIGIN = 253;
export const XLR_BLOCK_ID_TOPLEVEL_XID = 252;
export const BKPBLOCK_HAS_IMAGE = 0x10;
export const BKPBLOCK_HAS_DATA = 0x20;
export const BKPBLOCK_SAME_REL = 0x80;
export const BKPIMAGE_HAS_HOLE = 0x01;
/** PGLZ, LZ4 and ZSTD: any of them means the image is compressed (15 and later). */
export const BKPIMAGE_COMPRESSED = 0x04 | 0x08 | 0x10;
export const RELFILELOCATOR_SIZE = 12;

// Resource managers walflow reads the data of.
export const RM_XLOG_ID = 0;
export const RM_XACT_ID = 1;

// RM_XLOG_ID record kinds (info & ~XLR_INFO_MASK).
export const XLOG_CHECKPOINT_SHUTDOWN = 0x00;
export const XLOG_CHECKPOINT_ONLINE = 0x10;
export const XLOG_SWITCH = 0x40;
export const XLOG_RESTORE_POINT = 0x70;
export const XLOG_END_OF_RECOVERY = 0x90;
/** CheckPoint and xl_end_of_recovery both hold ThisTimeLineID @8 and PrevTimeLineID @12. */
export const TLI_OFFSET = 8;
export const PREV_TLI_OFFSET = 12;
/** xl_restore_point: rp_time @0, rp_name char[MAXFNAMELEN = 64] @8. */
export const RESTORE_POINT_NAME_MAX = 64;

// RM_XACT_ID record kinds (info & XLOG_XACT_OPMASK) and the xinfo flags of commit and abort records.
export const XLOG_XACT_OPMASK = 0x70;
export const XLOG_XACT_HAS_INFO = 0x80;
export const XLOG_XACT_COMMIT = 0x00;
export const XLOG_XACT_PREPARE = 0x10;
export const XLOG_XACT_ABORT = 0x20;
export const XLOG_XACT_COMMIT_PREPARED = 0x30;
export const XLOG_XACT_ABORT_PREPARED = 0x40;
export const XACT_XINFO_HAS_DBINFO = 1 << 0;
export const XACT_XINFO_HAS_SUBXACTS = 1 << 1;
export const XACT_XINFO_HAS_RELFILELOCATORS = 1 << 2;
export const XACT_XINFO_HAS_INVALS = 1 << 3;
export const XACT_XINFO_HAS_TWOPHASE = 1 << 4;
export const XACT_XINFO_HAS_DROPPED_STATS = 1 << 8;
export const SHARED_INVAL_MESSAGE_SIZE = 16;
/** xl_xact_prepare: xid u32 @8, prepared_at TimestampTz @16. */
export const PREPARE_XID_OFFSET = 8;
export const PREPARE_TIME_OFFSET = 16;

/** TimestampTz counts microseconds from 2000-01-01 00:00:00 UTC. */
export const PG_EPOCH_UNIX_MICROS = 946_684_800_000_000n;
