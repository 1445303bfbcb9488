// How much the spool may hold (WALFLOW_SPOOL_MAX) and how much it holds. push reads it before
// each copy and the worker's pressure check after each change, so both decide by one rule.
// Tiny on purpose: push imports it.
import * as fs from 'node:fs';
import { SpoolPaths } from './spool';

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  m: 2 ** 20,
  mib: 2 ** 20,
  g: 2 ** 30,
  gib: 2 ** 30,
  t: 2 ** 40,
  tib: 2 ** 40,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
};

/** The share of the spool's file system it may fill when WALFLOW_SPOOL_MAX is unset: pg_wal often shares it. */
export const DEFAULT_SPOOL_SHARE = 0.25;

/** "512MiB", "20GiB", "1000000" -> bytes. */
export function parseByteSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined || Number(m[1]) <= 0)
    throw new Error(`not a size: "${text}" (use bytes or a unit, e.g. 512MiB, 20GiB)`);
  return Math.floor(Number(m[1]) * unit);
}

/** The limit in bytes: the setting, else DEFAULT_SPOOL_SHARE of the file system the spool is on. */
export function spoolLimit(setting: string | undefined, spoolDir: string): number {
  if (!setting) return defaultSpoolLimit(spoolDir);
  try {
    return parseByteSize(setting);
  } catch (e) {
    throw new Error(`WALFLOW_SPOOL_MAX: ${(e as Error).message}`, { cause: e });
  }
}

export function defaultSpoolLimit(spoolDir: string): number {
  const st = fs.statfsSync(spoolDir);
  return Math.floor(st.blocks * st.bsize * DEFAULT_SPOOL_SHARE);
}

/**
 * Room kept free below the limit, so that push finds space while files leave and while the
 * newest ones have no copy yet: half the limit, at most eight files of the largest size seen.
 */
export function spoolHeadroom(limit: number, largestFile: number): number {
  return Math.min(Math.floor(limit / 2), 8 * largestFile);
}

export interface SpoolFile {
  name: string;
  /** The file's own size. */
  raw: number;
  /** What it counts towards the limit: the file and its staged (compressed) copy, if any. */
  bytes: number;
  mtimeMs: number;
}

/** push's rule, and the worker's test for room again: a file fits with room for its compressed copy. */
export function fits(usedBytes: number, fileBytes: number, limit: number): boolean {
  return usedBytes + 2 * fileBytes <= limit;
}

/**
 * What the spool holds, oldest file first. Its compressed (staged) copies count towards the
 * limit too, and a file not compressed yet counts twice: its compressed copy may take up to
 * as much room again.
 */
export function spoolUsage(spool: SpoolPaths): { files: SpoolFile[]; bytes: number } {
  const files = new Map<string, SpoolFile>();
  let bytes = 0;
  const each = (dir: string, visit: (entry: string, size: number, mtimeMs: number) => void) => {
    let entries: string[];
    try {
      entries = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const entry of entries) {
      try {
        const st = fs.statSync(`${dir}/${entry}`);
        bytes += st.size;
        visit(entry, st.size, st.mtimeMs);
      } catch {
        /* archived meanwhile */
      }
    }
  };
  each(spool.walDir, (name, size, mtimeMs) => files.set(name, { name, raw: size, bytes: size, mtimeMs }));
  const staged = new Set<string>();
  each(spool.stagedDir, (entry, size) => {
    const f = files.get(entry) ?? files.get(entry.slice(0, entry.lastIndexOf('.')));
    if (f) f.bytes += size;
    if (f) staged.add(f.name);
  });
  for (const f of files.values()) {
    if (staged.has(f.name)) continue;
    bytes += f.bytes;
    f.bytes *= 2;
  }
  const sorted = [...files.values()].sort((a, b) => a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : 1));
  return { files: sorted, bytes };
}
