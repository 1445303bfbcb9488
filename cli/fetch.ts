// `walflow fetch <name> <dest>`: PostgreSQL's restore_command ('walflow fetch %f %p').
// The prefetch folder first (filled by the restore workflow, already verified), then each
// store in order, failing over on any error. Exit 1 quietly when no store has the file:
// PostgreSQL asks for files past the end of the archive as a matter of course.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { requireEnv } from '../lib/env';
import { UserError } from '../lib/errors';
import { parseWalName } from '../lib/wal/name';

export type FetchOutcome = 'prefetched' | 'fetched' | 'missing';

export async function fetchWal(name: string, dest: string): Promise<FetchOutcome> {
  const wal = parseWalName(name);
  if (!wal) throw new UserError(`"${name}" is not a WAL file name; restore_command must be 'walflow fetch %f %p'`);
  const prefetchDir = process.env.WALFLOW_PREFETCH_DIR;
  if (prefetchDir && takePrefetched(path.join(prefetchDir, name), dest)) return 'prefetched';

  const cluster = requireEnv('WALFLOW_CLUSTER', 'name the cluster to restore from, e.g. WALFLOW_CLUSTER=main');
  // Loaded only now: the prefetched path above must not pay for the store drivers.
  const { storesFromEnv } = require('../lib/stores/fromenv') as typeof import('../lib/stores/fromenv');
  const { readFromAnyStore } = require('../lib/verified') as typeof import('../lib/verified');
  const { walKeyCandidates } = require('../lib/walkeys') as typeof import('../lib/walkeys');
  const keys = walKeyCandidates(cluster, wal, process.env.WALFLOW_COMPRESSION);
  const { found, errors } = await readFromAnyStore(storesFromEnv(), keys);
  for (const e of errors) process.stderr.write(`walflow fetch ${name}: ${e}\n`);
  if (!found) {
    // Every store answered "not there": the normal end of the archive. Some store failing is
    // worth saying (above), but still not fatal: PostgreSQL retries or stops at its target.
    return 'missing';
  }
  try {
    writeAtomically(dest, found.raw);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'ENOSPC' || code === 'ENOENT' || code === 'EROFS') {
      throw new UserError(`cannot write ${dest}: ${code}; restore_command must be 'walflow fetch %f %p', run by the PostgreSQL user`);
    }
    throw e;
  }
  return 'fetched';
}

/** Moves a prefetched file into place (it was verified and fsynced when prefetched); false when absent. */
function takePrefetched(file: string, dest: string): boolean {
  try {
    fs.renameSync(file, dest); // used once; a repeat request goes to the stores
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    if (code !== 'EXDEV') throw e;
    const tmp = tempBeside(dest);
    fs.copyFileSync(file, tmp);
    syncAndRename(tmp, dest);
    fs.rmSync(file, { force: true });
    return true;
  }
  fsyncDir(path.dirname(dest));
  return true;
}

function tempBeside(dest: string): string {
  return path.join(path.dirname(dest), `.${path.basename(dest)}.walflow.${process.pid}.tmp`);
}

function writeAtomically(dest: string, data: Buffer): void {
  const tmp = tempBeside(dest);
  fs.writeFileSync(tmp, data, { mode: 0o600 });
  syncAndRename(tmp, dest);
}

function syncAndRename(tmp: string, dest: string): void {
  try {
    const fd = fs.openSync(tmp, 'r+');
    try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
    fs.renameSync(tmp, dest);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(path.dirname(dest));
}

function fsyncDir(dir: string): void {
  const d = fs.openSync(dir, 'r');
  try { fs.fsyncSync(d); } finally { fs.closeSync(d); }
}
