// Which WAL files a store keeps for the backups it keeps. A backup recovers along its own
// timeline and along every timeline whose history passes through its start, and needs each
// such timeline's WAL from its start on. A file no kept backup needs is deleted only when it
// lies before every kept backup's start, so a timeline that the store's history files cannot
// place (one missing or unreadable) never loses WAL for that reason.
import { parseLsn, segmentNumberOf } from './lsn';
import type { WalName } from './name';
import { onPathOf, TimelineSwitch } from './timeline';

export interface KeptBackup {
  backupId: string;
  timeline: number;
  startLsn: string;
}

export interface WalVerdict {
  keep: boolean;
  reason: string;
}

/** Files kept on one timeline for one reason, for the dry run. */
export interface KeptWal {
  timeline: number;
  from: string;
  to: string;
  files: number;
  reason: string;
}

export function walKeepRule(
  backups: KeptBackup[],
  histories: Map<number, TimelineSwitch[]>,
  segmentSize: number | undefined,
): (wal: WalName) => WalVerdict {
  if (!backups.length)
    return () => ({ keep: true, reason: 'no complete backup: all WAL is kept, since WAL alone restores nothing' });
  if (segmentSize === undefined)
    return () => ({ keep: true, reason: 'segment size unknown (no cluster.json): all WAL is kept' });
  const size = segmentSize;
  const start = (b: KeptBackup) => segmentNumberOf(parseLsn(b.startLsn), size);
  const byTimeline = new Map<number, { from: bigint; reason: string }>();
  for (const t of new Set([...backups.map((b) => b.timeline), ...histories.keys()])) {
    for (const b of backups) {
      if (!onPathOf(t, histories.get(t), b.timeline, parseLsn(b.startLsn))) continue;
      const from = start(b);
      if (byTimeline.has(t) && byTimeline.get(t)!.from <= from) continue;
      const reason =
        t === b.timeline
          ? `backup ${b.backupId} on timeline ${b.timeline}`
          : `backup ${b.backupId} on timeline ${b.timeline}, which timeline ${t} descends from`;
      byTimeline.set(t, { from, reason });
    }
  }
  const earliest = backups.reduce((a, b) => (start(b) < start(a) ? b : a));
  const floor = start(earliest);

  return (wal) => {
    if (wal.kind === 'history' || wal.segno === undefined)
      return { keep: true, reason: 'history files are never deleted' };
    const range = byTimeline.get(wal.timeline);
    if (range && wal.segno >= range.from) return { keep: true, reason: range.reason };
    if (wal.segno >= floor) {
      return {
        keep: true,
        reason: `no kept backup needs it, but it is not before ${earliest.startLsn}, where the earliest kept backup ${earliest.backupId} starts`,
      };
    }
    return {
      keep: false,
      reason: `WAL before ${earliest.startLsn}, where the earliest kept backup ${earliest.backupId} starts`,
    };
  };
}

/** Adds a kept file to the ranges shown by the dry run: one per timeline and reason. */
export function tallyKept(ranges: KeptWal[], wal: WalName, reason: string): void {
  const r = ranges.find((x) => x.timeline === wal.timeline && x.reason === reason);
  if (!r) {
    ranges.push({ timeline: wal.timeline, from: wal.name, to: wal.name, files: 1, reason });
    return;
  }
  // Names of one timeline sort as their positions do.
  if (wal.name < r.from) r.from = wal.name;
  if (wal.name > r.to) r.to = wal.name;
  r.files++;
}
