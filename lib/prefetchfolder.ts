// A restore's prefetch folder, shared by the host's prefetch (which fills it) and `walflow fetch`
// (which empties it while recovery runs beside the prefetch): verified WAL files under their own
// names, the list of names the restore expects, and whether the prefetch is still at work. So
// fetch waits for a file that is on its way instead of downloading it a second time, and never
// takes a file the catalog records as archived for the end of the archive. Tiny on purpose:
// fetch runs once per WAL file.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The WAL the restore expects, one name a line, written before PostgreSQL starts. */
const PLANNED = '.planned';
/** The names the prefetch has put in place, one a line: a name there and no longer in the folder was taken. */
const LANDED = '.landed';
/** 'running' (its time is refreshed while the prefetch works), 'done' or 'failed'. */
const STATE = '.state';

export type PrefetchState = 'running' | 'done' | 'failed';

/** How often a working prefetch refreshes its state. */
export const PREFETCH_BEAT_MS = 2_000;
/** Without a sign of life for this long, fetch stops waiting and reads the stores itself. */
const STALL_MS = 15_000;
const POLL_MS = 20;

export function plannedFile(dir: string): string {
  return path.join(dir, PLANNED);
}

/** Writer side: replaces the state in one rename, so that fetch never reads half of it. */
export function setPrefetchState(dir: string, state: PrefetchState): void {
  const tmp = path.join(dir, `${STATE}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, state);
  fs.renameSync(tmp, path.join(dir, STATE));
}

/** Writer side: a running prefetch's sign of life. */
export function touchPrefetchState(dir: string): void {
  const now = new Date();
  try {
    fs.utimesSync(path.join(dir, STATE), now, now);
  } catch {
    /* the folder went with a finished restore */
  }
}

/** Writer side: `name` is in place (a retried attempt repeats it for what it found there). */
export function recordLanded(dir: string, name: string): void {
  fs.appendFileSync(path.join(dir, LANDED), name + '\n');
}

/** Whether the restore expects `name` from the archive (the catalog records it as archived). */
export function isPlanned(dir: string, name: string): boolean {
  return listed(plannedFile(dir), name);
}

/**
 * Waits while the prefetch works on `name` and `take` (moving the file into place) finds nothing;
 * true once `take` did. False when the file landed and was taken before (a repeated request), when
 * the prefetch has stopped, or when it shows no sign of life for STALL_MS.
 */
export async function waitForPrefetched(dir: string, name: string, take: () => boolean): Promise<boolean> {
  for (;;) {
    if (take()) return true;
    const state = readState(dir);
    // Either may have changed since `take` looked: one more look settles it.
    if (listed(path.join(dir, LANDED), name)) return take();
    if (state.value !== 'running' && state.value !== undefined) return take();
    if (Date.now() - state.since > STALL_MS) return false;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Whether `name` is a line of `file`. */
function listed(file: string, name: string): boolean {
  let text: string;
  try {
    text = fs.readFileSync(file, 'latin1');
  } catch {
    return false;
  }
  for (let at = text.indexOf(name); at >= 0; at = text.indexOf(name, at + 1))
    if ((at === 0 || text[at - 1] === '\n') && (text[at + name.length] ?? '\n') === '\n') return true;
  return false;
}

/** The state and when it last changed; before the prefetch starts, the time the list was written. */
function readState(dir: string): { value: string | undefined; since: number } {
  try {
    const file = path.join(dir, STATE);
    const since = fs.statSync(file).mtimeMs;
    return { value: fs.readFileSync(file, 'latin1'), since };
  } catch {
    try {
      return { value: undefined, since: fs.statSync(plannedFile(dir)).mtimeMs };
    } catch {
      return { value: 'failed', since: 0 };
    }
  }
}
