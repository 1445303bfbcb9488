// Whether a recovery target lies inside a window the archive can reach, decided before a restore
// downloads anything. A refusal names the nearest reachable points. It refuses only what the
// segments' indexes prove: a window with an unreadable or missing index, or restore points its
// index only counted, leaves the target to PostgreSQL.
import type { RecoveryTarget } from '../contracts';
import { parseLsn } from './lsn';
import { precedes } from './segmentindex';
import type { TimelineWindows, Window } from './windows';

interface Span {
  timeline: number;
  window: Window;
  /** Where the window starts, in the target's unit; null: as early as its parent timeline's. */
  lower: bigint | null;
  /** Past the window's last stop point; null: not known (an inexact window). */
  upper: bigint | null;
}

/** Microseconds since 1970 of an ISO 8601 (or PostgreSQL-style) time, fraction kept to the microsecond. */
export function timeMicros(text: string): bigint | null {
  const m = /^(.*?\d{1,2}:\d{2}:\d{2})(?:\.(\d+))?(.*)$/.exec(text.trim());
  const ms = m ? Date.parse(`${m[1]}${m[3]}`) : Date.parse(text);
  if (Number.isNaN(ms)) return null;
  return BigInt(ms) * 1000n + BigInt((m?.[2] ?? '').padEnd(6, '0').slice(0, 6));
}

/** The same instant as an index writes it: UTC with six fraction digits, so times compare as text. */
export function indexTime(micros: bigint): string {
  const seconds = micros / 1_000_000n;
  const fraction = micros % 1_000_000n;
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${fraction.toString().padStart(6, '0')}Z`;
}

/** null when the target may be reached (or cannot be judged); else why not, in one line. */
export function refuseTarget(
  all: TimelineWindows[],
  target: RecoveryTarget,
  timeline: number | 'latest',
): string | null {
  // Every timeline up to the target one: a superset of its ancestors, so nothing reachable is refused.
  const timelines = all.filter((t) => timeline === 'latest' || t.timeline <= timeline);
  const windows = timelines.flatMap((t) => t.windows.map((w) => ({ timeline: t.timeline, window: w })));
  if (windows.length === 0) return null; // choosing a backup says what is missing
  switch (target.kind) {
    case 'time':
      return refuseTime(windows, target.value);
    case 'lsn':
      return refuseLsn(windows, target.value);
    case 'name':
      return refuseName(windows, target.value);
    case 'xid':
      return refuseXid(windows, target.value);
    default:
      return null;
  }
}

type Located = { timeline: number; window: Window };

function refuseTime(windows: Located[], value: string): string | null {
  const t = timeMicros(value);
  if (t === null) return null;
  // A window that starts where its timeline branched off starts as early as its parent's earliest.
  const earliest = new Map<number, bigint>();
  const spans: Span[] = windows.map(({ timeline, window: w }) => {
    const parent = w.from.parentTimeline;
    const lower = w.from.time ? timeMicros(w.from.time) : parent !== undefined ? (earliest.get(parent) ?? null) : null;
    const known = earliest.get(timeline);
    if (lower !== null && (known === undefined || lower < known)) earliest.set(timeline, lower);
    // PostgreSQL stops before the first commit, abort or restore point later than the target.
    const upper = w.exact && w.to.lastEvent ? timeMicros(w.to.lastEvent) : null;
    return { timeline, window: w, lower, upper };
  });
  return refuseInSpans(spans, t, `target time ${value}`, {
    latest: (s) => `before ${indexTime(s.upper!)} (the last archived commit)`,
    next: (s) => `${indexTime(s.lower!)} (${startOf(s)})`,
  });
}

function refuseLsn(windows: Located[], value: string): string | null {
  let t: bigint;
  try {
    t = parseLsn(value);
  } catch {
    return null; // the input check says what is wrong with it
  }
  const spans: Span[] = windows.map(({ timeline, window: w }) => ({
    timeline,
    window: w,
    lower: parseLsn(w.from.lsn),
    upper: w.exact ? parseLsn(w.to.lsn) + 1n : null,
  }));
  return refuseInSpans(spans, t, `target LSN ${value}`, {
    latest: (s) => s.window.to.lsn,
    next: (s) => `${s.window.from.lsn} (${startOf(s)})`,
  });
}

const startOf = (s: Span) =>
  s.window.from.backupId
    ? `end of backup ${s.window.from.backupId} on timeline ${s.timeline}`
    : `start of timeline ${s.timeline}`;

/**
 * Spans hold [lower, upper): a target in none is refused, with the reachable points around it:
 * `latest` says where the span before it ends, `next` where the one after it starts.
 */
function refuseInSpans(
  spans: Span[],
  t: bigint,
  what: string,
  say: { latest: (s: Span) => string; next: (s: Span) => string },
): string | null {
  if (spans.some((s) => (s.lower === null || s.lower <= t) && (s.upper === null || t < s.upper))) return null;
  const before = spans
    .filter((s) => s.upper !== null && s.upper <= t)
    .sort((a, b) => (a.upper! > b.upper! ? -1 : 1))[0];
  const after = spans.filter((s) => s.lower !== null && s.lower > t).sort((a, b) => (a.lower! < b.lower! ? -1 : 1))[0];
  const latest = (s: Span) => `latest reachable on timeline ${s.timeline}: ${say.latest(s)}`;
  if (before && after)
    return `${what} is in a gap in the archive: ${latest(before)}; next after the gap: ${say.next(after)}`;
  if (after) return `${what} is before the end of the oldest backup: earliest reachable: ${say.next(after)}`;
  if (before)
    return `${what} is past the last archived WAL: ${latest(before)}; restore to the end of the archive, or wait for newer WAL`;
  return null;
}

function refuseName(windows: Located[], name: string): string | null {
  const points = windows.flatMap(({ window: w }) => w.restorePoints);
  if (points.some((p) => p.name === name)) return null;
  if (windows.some(({ window: w }) => !w.exact || w.restorePointsUncounted > 0)) return null;
  const recent = [...new Set(points.map((p) => p.name))].slice(-5);
  return (
    `restore point "${name}" is in no reachable window` +
    (recent.length ? `; reachable restore points: ${recent.map((n) => `"${n}"`).join(', ')}` : '; none is reachable')
  );
}

function refuseXid(windows: Located[], value: string): string | null {
  if (!/^\d+$/.test(value)) return null;
  // recovery_target_xid names a 32-bit xid; a full (epoch-qualified) one stops at its low half.
  const xid = Number(BigInt(value) & 0xffffffffn);
  if (windows.some(({ window: w }) => !w.exact)) return null;
  const inside = (r: [number, number]) => !precedes(xid, r[0]) && !precedes(r[1], xid);
  if (windows.some(({ window: w }) => w.xids && inside(w.xids))) return null;
  const ranges = windows
    .filter(({ window: w }) => w.xids)
    .map(({ timeline, window: w }) => `${w.xids![0]}..${w.xids![1]} on timeline ${timeline}`);
  return (
    `transaction ${value} ended in no reachable window` +
    (ranges.length ? `; reachable transactions: ${ranges.slice(-3).join(', ')}` : '; no transaction is reachable')
  );
}
