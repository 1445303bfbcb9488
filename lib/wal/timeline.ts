// Timeline history files. The file of timeline t has one line per ancestor, oldest first:
// "<parent timeline> <LSN where t's path left it> <reason>"; '#' starts a comment.
import { Lsn, parseLsn } from './lsn';

export interface TimelineSwitch {
  /** An ancestor of the file's timeline. */
  timeline: number;
  /** Where the path left that ancestor: it holds the path's WAL before this LSN. */
  switchLsn: Lsn;
}

/** Throws on a line PostgreSQL itself would refuse, naming it. */
export function parseHistory(text: string): TimelineSwitch[] {
  const switches: TimelineSwitch[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(\d+)\s+([0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8})(\s|$)/.exec(line);
    if (!m) throw new Error(`not a timeline history line: "${line}"`);
    switches.push({ timeline: Number(m[1]), switchLsn: parseLsn(m[2]) });
  }
  return switches;
}

/**
 * Whether a backup that started at `startLsn` on `timeline` can recover along timeline `target`:
 * the same timeline, or an ancestor that `target`'s path left no earlier than the backup's start.
 */
export function onPathOf(
  target: number,
  history: TimelineSwitch[] | undefined,
  timeline: number,
  startLsn: Lsn,
): boolean {
  if (target === timeline) return true;
  return !!history?.some((s) => s.timeline === timeline && startLsn <= s.switchLsn);
}
