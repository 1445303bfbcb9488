// What waits in a spool: the files, their count and the age of the oldest; for the sweep,
// status and `archive --wait`.
import * as fs from 'node:fs';
import { SpoolPaths } from './spool';
import { parseWalName } from './wal/name';

export interface SpoolStat {
  names: string[];
  waiting: number;
  oldestAgeMs: number;
  conflicts: number;
}

export function spoolStat(spoolDir: string, cluster: string): SpoolStat {
  const spool = new SpoolPaths(spoolDir, cluster);
  const list = (dir: string) => {
    try {
      return fs.readdirSync(dir).filter((n) => parseWalName(n));
    } catch {
      return [];
    }
  };
  const names = list(spool.walDir).sort();
  let oldest = Date.now();
  for (const n of names) {
    try {
      oldest = Math.min(oldest, fs.statSync(spool.wal(n)).mtimeMs);
    } catch {
      /* archived meanwhile */
    }
  }
  return {
    names,
    waiting: names.length,
    oldestAgeMs: names.length ? Date.now() - oldest : 0,
    conflicts: list(spool.conflictDir).length,
  };
}
