// The index of one WAL segment, made while it is staged: what a restore can stop at inside it
// (transaction ends with their times and xids, restore points) and how it ends (a WAL switch,
// the start of a new timeline). Stored with the object (user metadata) and in the catalog.
import { carriesEvent, eventOf, pgTimestampToIso, WalEvent } from './events';
import { formatLsn } from './lsn';
import { SegmentEnd, walkSegment, WalFormatError } from './records';

export const INDEX_VERSION = 1;

/**
 * Room for the index in an object's user metadata: S3 allows 2 KiB for all of it, and the
 * codec, size and SHA-256 beside it take under 200 bytes.
 */
export const INDEX_METADATA_BUDGET = 1600;

export interface SegmentIndex {
  v: typeof INDEX_VERSION;
  /** Why the segment could not be read; nothing else is then known. */
  error?: string;
  pg?: number;
  records?: number;
  /** How the readable WAL ends, and where (the end of the last complete record). */
  end?: SegmentEnd;
  endLsn?: string;
  /** What did not fit, for end = 'invalid'. */
  detail?: string;
  /** Commits and aborts, prepared transactions' included; prepares (PREPARE TRANSACTION). */
  commits?: number;
  aborts?: number;
  prepares?: number;
  /** First and last commit (abort) time in LSN order: ISO 8601 with PostgreSQL's microseconds. */
  commitTimes?: [string, string];
  abortTimes?: [string, string];
  /** Lowest and highest xid that committed (aborted), in xid order (wraparound-aware). */
  commitXids?: [number, number];
  abortXids?: [number, number];
  /** Restore points, in LSN order; when there are more than fit, restorePointCount says how many. */
  restorePoints?: { name: string; time: string; lsn: string }[];
  restorePointCount?: number;
  /** An XLOG_SWITCH record: the segment was closed early here. */
  switchLsn?: string;
  /** This segment starts a new timeline: `prevTimeline` ended at `lsn` (end of recovery, promotion). */
  timelineStart?: { timeline: number; prevTimeline: number; lsn: string };
}

/** Modular xid order, as PostgreSQL's TransactionIdPrecedes. */
export const precedes = (a: number, b: number) => ((a - b) | 0) < 0;

/** The smallest xid range (in modular order) holding `range` and `xid`; updates `range` in place. */
export function widen(range: [number, number] | undefined, xid: number): [number, number] {
  if (!range) return [xid, xid];
  if (precedes(xid, range[0])) range[0] = xid;
  if (precedes(range[1], xid)) range[1] = xid;
  return range;
}

/** Reads a whole segment once; never throws: a segment that cannot be read gets an index that says why. */
export function indexSegment(raw: Buffer): SegmentIndex {
  let commits = 0,
    aborts = 0,
    prepares = 0;
  // First and last times as TimestampTz: converted to text once, at the end.
  let commitTimes: [bigint, bigint] | undefined;
  let abortTimes: [bigint, bigint] | undefined;
  let commitXids: [number, number] | undefined;
  let abortXids: [number, number] | undefined;
  const restorePoints: NonNullable<SegmentIndex['restorePoints']> = [];
  let switchLsn: string | undefined;
  let timelineStart: SegmentIndex['timelineStart'];
  const onEvent = (e: WalEvent) => {
    switch (e.kind) {
      case 'commit':
      case 'commit-prepared':
        commits++;
        commitTimes = [commitTimes?.[0] ?? e.time, e.time];
        commitXids = widen(commitXids, e.xid);
        break;
      case 'abort':
      case 'abort-prepared':
        aborts++;
        abortTimes = [abortTimes?.[0] ?? e.time, e.time];
        abortXids = widen(abortXids, e.xid);
        break;
      case 'prepare':
        prepares++;
        break;
      case 'restore-point':
        restorePoints.push({ name: e.name, time: pgTimestampToIso(e.time), lsn: formatLsn(e.lsn) });
        break;
      case 'switch':
        switchLsn = formatLsn(e.lsn);
        break;
      case 'end-of-recovery':
      case 'checkpoint':
        if (e.timeline !== e.prevTimeline)
          timelineStart = { timeline: e.timeline, prevTimeline: e.prevTimeline, lsn: formatLsn(e.lsn) };
        break;
    }
  };
  const span = (t: [bigint, bigint] | undefined): [string, string] | undefined =>
    t && [pgTimestampToIso(t[0]), pgTimestampToIso(t[1])];
  try {
    const walk = walkSegment(
      raw,
      (r, format) => {
        const e = eventOf(r, format);
        if (e) onEvent(e);
      },
      carriesEvent,
    );
    return {
      v: INDEX_VERSION,
      pg: walk.format.pgVersion,
      records: walk.records,
      end: walk.end,
      endLsn: formatLsn(walk.endLsn),
      ...(walk.detail ? { detail: walk.detail.slice(0, 200) } : {}),
      commits,
      aborts,
      prepares,
      ...(commitTimes ? { commitTimes: span(commitTimes) } : {}),
      ...(abortTimes ? { abortTimes: span(abortTimes) } : {}),
      ...(commitXids ? { commitXids } : {}),
      ...(abortXids ? { abortXids } : {}),
      ...(restorePoints.length > 0 ? { restorePoints, restorePointCount: restorePoints.length } : {}),
      ...(switchLsn ? { switchLsn } : {}),
      ...(timelineStart ? { timelineStart } : {}),
    };
  } catch (e) {
    // Archiving never waits on the index: whatever the reader trips on becomes the index's answer.
    const reason = e instanceof WalFormatError ? e.message : `reader failed: ${(e as Error).message}`;
    return { v: INDEX_VERSION, error: reason.replace(/\s+/g, ' ').slice(0, 300) };
  }
}

/**
 * JSON with every character outside printable ASCII, and spaces, escaped: safe as an HTTP header
 * value, which request signing would otherwise trim and collapse.
 */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[^\x21-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * The index as stored in metadata and the catalog: restore points beyond what fits the budget
 * are left out (restorePointCount still counts them all).
 */
export function encodeIndex(index: SegmentIndex): string {
  let text = asciiJson(index);
  if (text.length <= INDEX_METADATA_BUDGET) return text;
  const points = [...(index.restorePoints ?? [])];
  while (points.length > 0) {
    points.pop();
    text = asciiJson({ ...index, restorePoints: points });
    if (text.length <= INDEX_METADATA_BUDGET) return text;
  }
  const { restorePoints: _, ...rest } = index;
  return asciiJson(rest);
}

/** undefined for text that is not an index of a version this walflow reads. */
export function decodeIndex(text: string | undefined): SegmentIndex | undefined {
  if (!text) return undefined;
  try {
    return asIndex(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/** An index as the catalog returns it (jsonb), if it is one of a version this walflow reads. */
export function asIndex(value: unknown): SegmentIndex | undefined {
  return value && typeof value === 'object' && (value as SegmentIndex).v === INDEX_VERSION
    ? (value as SegmentIndex)
    : undefined;
}
