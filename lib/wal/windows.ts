// What a restore can reach, per timeline: from the end of a complete base backup (or from the
// start of a timeline whose parent's window reaches it) forward through unbroken WAL, to the
// last commit the segments' indexes saw. A missing segment ends a window; past it, only a
// backup that ends after the gap opens the next one.
import { formatLsn, Lsn, parseLsn } from './lsn';
import { segmentName } from './name';
import { widen, type SegmentIndex } from './segmentindex';

export interface ArchivedSegment {
  timeline: number;
  name: string;
  startLsn: Lsn;
  index: SegmentIndex | null;
}

export interface CompleteBackup {
  backupId: string;
  timeline: number;
  stopLsn: Lsn;
  stoppedAt: string;
}

export interface RestorePoint {
  name: string;
  time: string;
  lsn: string;
}

export interface Window {
  timeline: number;
  /** Where replay first becomes consistent: the end of a backup, or where this timeline branched off. */
  from: { lsn: string; time: string | null; backupId?: string; parentTimeline?: number };
  /**
   * The last commit the window holds, and where its WAL ends. lastEvent: the last commit, abort
   * or restore point, the records a time target stops at (a time target needs one after it).
   */
  to: { lsn: string; lastCommit: string | null; lastEvent: string | null; segment: string };
  /** Lowest and highest xid (modular order) that committed or aborted in the window's segments. */
  xids: [number, number] | null;
  segments: number;
  restorePoints: RestorePoint[];
  /** Restore points in the window that their segment's index only counted (metadata budget). */
  restorePointsUncounted: number;
  /** False when some segment in the window has no readable index: lastCommit may then be early. */
  exact: boolean;
}

export interface TimelineWindows {
  timeline: number;
  windows: Window[];
  /** Missing segments between the first and the last archived one: each splits a window. */
  gaps: { from: string; to: string }[];
}

/** Per timeline (the newest few), its newest window in a line: for workflow memos. */
export interface RecoverableSummary {
  timelines: {
    timeline: number;
    windows: number;
    gaps: number;
    latest: { from: string; lastCommit: string | null; restorePoints: number } | null;
  }[];
  /** Older timelines left out. */
  more: number;
}

const SUMMARY_TIMELINES = 4;

export function summarizeWindows(all: TimelineWindows[]): RecoverableSummary {
  const shown = all.slice(-SUMMARY_TIMELINES);
  return {
    timelines: shown.map((t) => {
      const w = t.windows[t.windows.length - 1];
      return {
        timeline: t.timeline,
        windows: t.windows.length,
        gaps: t.gaps.length,
        latest: w
          ? {
              from: w.from.backupId
                ? `backup ${w.from.backupId}`
                : `timeline ${w.from.parentTimeline} at ${w.from.lsn}`,
              lastCommit: w.to.lastCommit,
              restorePoints: w.restorePoints.length + w.restorePointsUncounted,
            }
          : null,
      };
    }),
    more: all.length - shown.length,
  };
}

interface Run {
  start: number;
  end: number;
  from: Window['from'];
}

export function recoverableWindows(
  segments: ArchivedSegment[],
  backups: CompleteBackup[],
  segmentSize: number,
): TimelineWindows[] {
  const size = BigInt(segmentSize);
  const timelines = [...new Set(segments.map((s) => s.timeline))].sort((a, b) => a - b);
  const result: TimelineWindows[] = [];
  for (const tli of timelines) {
    const segs = segments.filter((s) => s.timeline === tli).sort((a, b) => (a.startLsn < b.startLsn ? -1 : 1));
    const position = new Map(segs.map((s, i) => [s.startLsn, i]));
    const gaps: TimelineWindows['gaps'] = [];
    for (let i = 1; i < segs.length; i++) {
      if (segs[i].startLsn !== segs[i - 1].startLsn + size) {
        gaps.push({
          from: segmentName(tli, segs[i - 1].startLsn / size + 1n, segmentSize),
          to: segmentName(tli, segs[i].startLsn / size - 1n, segmentSize),
        });
      }
    }
    /** The last segment of the unbroken run that starts with segs[i]. */
    const runEnd = (i: number) => {
      let j = i;
      while (j + 1 < segs.length && segs[j + 1].startLsn === segs[j].startLsn + size) j++;
      return j;
    };

    const starts: { i: number; from: Window['from']; lsn: Lsn }[] = [];
    for (const b of backups.filter((x) => x.timeline === tli)) {
      const i = position.get(b.stopLsn - (b.stopLsn % size));
      if (i !== undefined)
        starts.push({
          i,
          lsn: b.stopLsn,
          from: { lsn: formatLsn(b.stopLsn), time: b.stoppedAt, backupId: b.backupId },
        });
    }
    const branch = segs[0]?.index?.timelineStart;
    const parent = branch && result.find((t) => t.timeline === branch.prevTimeline);
    if (
      branch &&
      parent?.windows.some((w) => parseLsn(w.from.lsn) <= parseLsn(branch.lsn) && reaches(w, segs[0], size))
    ) {
      starts.push({
        i: 0,
        lsn: parseLsn(branch.lsn),
        from: { lsn: branch.lsn, time: null, parentTimeline: branch.prevTimeline },
      });
    }
    starts.sort((a, b) => a.i - b.i || (a.lsn < b.lsn ? -1 : 1));

    const runs: Run[] = [];
    for (const s of starts) {
      const last = runs[runs.length - 1];
      if (last && s.i <= last.end) continue; // inside a window an earlier start already opens
      runs.push({ start: s.i, end: runEnd(s.i), from: s.from });
    }
    result.push({
      timeline: tli,
      gaps,
      windows: runs.map((r) => windowOf(tli, segs.slice(r.start, r.end + 1), r.from)),
    });
  }
  return result;
}

/** A parent window reaches a child timeline when its WAL runs up to the segment the child starts in. */
function reaches(w: Window, childFirst: ArchivedSegment, size: bigint): boolean {
  return parseLsn(w.to.lsn) >= childFirst.startLsn - size;
}

function windowOf(timeline: number, segs: ArchivedSegment[], from: Window['from']): Window {
  const fromLsn = parseLsn(from.lsn);
  let lastCommit: string | null = null;
  let lastEvent: string | null = null;
  let xids: [number, number] | null = null;
  let uncounted = 0;
  const restorePoints: RestorePoint[] = [];
  for (const s of segs) {
    const idx = s.index;
    // In LSN order, as recovery meets them (commit times may step back a little between backends).
    if (idx?.commitTimes) lastCommit = idx.commitTimes[1];
    const times = [idx?.commitTimes?.[1], idx?.abortTimes?.[1], idx?.restorePoints?.at(-1)?.time].filter(
      (t): t is string => t !== undefined,
    );
    if (times.length) lastEvent = times.reduce((a, b) => (a > b ? a : b));
    for (const range of [idx?.commitXids, idx?.abortXids])
      if (range) xids = widen(widen(xids ?? [range[0], range[0]], range[0]), range[1]);
    const points = (idx?.restorePoints ?? []).filter((p) => parseLsn(p.lsn) >= fromLsn);
    restorePoints.push(...points);
    uncounted += Math.max(0, (idx?.restorePointCount ?? 0) - (idx?.restorePoints?.length ?? 0));
  }
  const last = segs[segs.length - 1];
  return {
    timeline,
    from,
    to: { lsn: last.index?.endLsn ?? formatLsn(last.startLsn), lastCommit, lastEvent, segment: last.name },
    xids,
    segments: segs.length,
    restorePoints,
    restorePointsUncounted: uncounted,
    exact: segs.every((s) => s.index && !s.index.error),
  };
}
