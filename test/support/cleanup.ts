// Stops every background process and PostgreSQL that tests started under a folder.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stopPid } from '../../lib/devstack/procs';
import { stopPostgres } from '../../lib/devstack/stack';

function walk(dir: string, found: (file: string) => void, depth = 0): void {
  if (depth > 6) return;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, found, depth + 1);
    else found(p);
  }
}

export async function cleanupUnder(dir: string): Promise<void> {
  const pidFiles: string[] = [];
  const pgData: string[] = [];
  walk(dir, (f) => {
    if (f.endsWith('.pid') && path.basename(path.dirname(f)) === 'pids') pidFiles.push(f);
    if (path.basename(f) === 'postmaster.pid') pgData.push(path.dirname(f));
  });
  // Workers and servers first, then every PostgreSQL cluster (the catalog and the tests' own);
  // side by side, so that an interrupted run is gone in seconds, not a wait per process.
  await Promise.all(pidFiles.map((f) => stopPid(f, 10_000).catch(() => undefined)));
  await Promise.all(pgData.map((d) => stopPostgres(d, 'immediate').catch(() => undefined)));
}
