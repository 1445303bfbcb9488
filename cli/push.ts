// `walflow push <path> [name]`: PostgreSQL's archive_command. Exit 0 only when the file is
// durably in the spool. Synchronous and free of heavy imports: it runs once per segment.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { requireEnv } from '../lib/env';
import { UserError } from '../lib/errors';
import { fsyncDirSync } from '../lib/fsync';
import { SpoolPaths } from '../lib/spool';
import { fits, spoolLimit, spoolUsage } from '../lib/spoollimit';
import { LONG_HEADER_SIZE, parseSegmentHeader } from '../lib/wal/header';
import { parseWalName, WalName } from '../lib/wal/name';
import { segmentStartLsn } from '../lib/wal/lsn';

const MAX_TEXT_FILE = 1 << 20; // .history and .backup files are a few hundred bytes

export interface PushResult {
  name: string;
  outcome: 'spooled' | 'already-spooled';
}

export function push(source: string, nameArg: string | undefined): PushResult {
  const cluster = requireEnv('WALFLOW_CLUSTER', 'name this cluster, e.g. WALFLOW_CLUSTER=main');
  const spool = new SpoolPaths(requireEnv('WALFLOW_SPOOL_DIR', 'give a local folder for the spool'), cluster);
  const name = nameArg ?? path.basename(source);
  if (name.includes('/') || name.includes('\\'))
    throw new UserError(`"${name}" is a path, not a file name; use 'walflow push %p %f'`);
  const wal = parseWalName(name);
  if (!wal)
    throw new UserError(
      `"${name}" is not a WAL file name (segment, .partial, .history or .backup); use 'walflow push %p %f'`,
    );

  let fd: number;
  try {
    fd = fs.openSync(source, 'r');
  } catch (e) {
    throw new UserError(
      `cannot open ${source}: ${(e as NodeJS.ErrnoException).code}; archive_command must be 'walflow push %p %f'`,
    );
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new UserError(`${source} is not a regular file`);
    const systemId = checkContent(fd, st.size, wal, source);
    ensureDirs(spool);
    if (systemId !== undefined) checkSystemIdentifier(spool, systemId, name);
  } finally {
    fs.closeSync(fd);
  }

  const final = spool.wal(name);
  if (fs.existsSync(final)) return compareExisting(source, final, name);
  checkRoom(spool, source, name);
  const tmp = path.join(spool.tmpDir, `${name}.${process.pid}.tmp`);
  try {
    fs.copyFileSync(source, tmp);
    fs.chmodSync(tmp, 0o640);
    const tfd = fs.openSync(tmp, 'r+');
    try {
      fs.fsyncSync(tfd);
    } finally {
      fs.closeSync(tfd);
    }
    try {
      fs.linkSync(tmp, final); // never replaces an existing file, unlike rename
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return compareExisting(source, final, name);
      throw e;
    }
    fsyncDirSync(spool.walDir);
  } catch (e) {
    throw spoolError(e, spool);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return { name, outcome: 'spooled' };
}

/** Refuses truncated or foreign files; returns the segment's system identifier. */
function checkContent(fd: number, size: number, wal: WalName, source: string): string | undefined {
  if (wal.kind === 'history' || wal.kind === 'backup') {
    if (size === 0 || size > MAX_TEXT_FILE)
      throw new UserError(`${source}: ${size} bytes is not a plausible .${wal.kind} file`);
    return undefined;
  }
  const head = Buffer.alloc(LONG_HEADER_SIZE);
  const got = fs.readSync(fd, head, 0, LONG_HEADER_SIZE, 0);
  const h = got === LONG_HEADER_SIZE ? parseSegmentHeader(head) : undefined;
  if (!h) throw new UserError(`${source}: no WAL segment header; the file is truncated or not WAL`);
  if (size !== h.segmentSize) {
    throw new UserError(`${source}: ${size} bytes but the segment size is ${h.segmentSize}; the file is truncated`);
  }
  const expected = parseWalName(wal.name, h.segmentSize);
  if (!expected)
    throw new UserError(`${source}: ${wal.name} is not a segment name for its segment size of ${h.segmentSize} bytes`);
  // The first segment of a new timeline starts as a copy of the old one, so its first page can
  // carry an older timeline than its name; never a newer one.
  if (h.timeline > expected.timeline || h.pageAddress !== segmentStartLsn(expected.segno!, h.segmentSize)) {
    throw new UserError(
      `${source}: its header says timeline ${h.timeline} at ${h.pageAddress.toString(16)}, which is not ${wal.name}`,
    );
  }
  return h.systemIdentifier;
}

/**
 * Refuses a file that would take the spool past WALFLOW_SPOOL_MAX. The worker moves files out
 * before that (those already in WALFLOW_MIN_COPIES stores), so a refusal means it cannot:
 * PostgreSQL keeps the file and retries, and the marker tells the worker to raise spool-full.
 */
function checkRoom(spool: SpoolPaths, source: string, name: string): void {
  let limit: number;
  try {
    limit = spoolLimit(process.env.WALFLOW_SPOOL_MAX, spool.dir);
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  const used = spoolUsage(spool).bytes;
  if (fits(used, fs.statSync(source).size, limit)) return;
  markFull(spool);
  throw new UserError(
    `spool ${spool.dir} is full (${mib(used)} of WALFLOW_SPOOL_MAX ${mib(limit)}) and no file there is in ` +
      `WALFLOW_MIN_COPIES stores yet; ${name} not archived, PostgreSQL keeps it and retries: check the stores and the worker`,
  );
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** Best effort: on a full disk even this may fail, and the refusal itself matters more. */
function markFull(spool: SpoolPaths): void {
  try {
    fs.closeSync(fs.openSync(spool.fullMarker, 'a', 0o640));
    const now = new Date();
    fs.utimesSync(spool.fullMarker, now, now);
  } catch {
    /* the refusal still reaches PostgreSQL's log */
  }
}

function ensureDirs(spool: SpoolPaths): void {
  try {
    fs.mkdirSync(spool.walDir, { recursive: true, mode: 0o750 });
    fs.mkdirSync(spool.tmpDir, { recursive: true, mode: 0o750 });
  } catch (e) {
    throw spoolError(e, spool);
  }
}

function checkSystemIdentifier(spool: SpoolPaths, systemId: string, name: string): void {
  let recorded: string | undefined;
  try {
    recorded = fs.readFileSync(spool.systemIdFile, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw spoolError(e, spool);
  }
  if (recorded === undefined) {
    const tmp = path.join(spool.tmpDir, `system-identifier.${process.pid}`);
    try {
      fs.writeFileSync(tmp, systemId + '\n', { mode: 0o640 });
      const tfd = fs.openSync(tmp, 'r+');
      try {
        fs.fsyncSync(tfd);
      } finally {
        fs.closeSync(tfd);
      }
      fs.renameSync(tmp, spool.systemIdFile);
      fsyncDirSync(spool.dir);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw spoolError(e, spool);
    }
  } else if (recorded !== systemId) {
    throw new UserError(
      `${name} belongs to system ${systemId} but spool ${spool.dir} belongs to system ${recorded}: ` +
        `two clusters share WALFLOW_CLUSTER=${spool.cluster}; give each its own name`,
    );
  }
}

function compareExisting(source: string, final: string, name: string): PushResult {
  if (sameBytes(source, final)) return { name, outcome: 'already-spooled' };
  throw new UserError(`${name} is already in the spool with different content; not overwritten (see ${final})`);
}

function sameBytes(a: string, b: string): boolean {
  if (fs.statSync(a).size !== fs.statSync(b).size) return false;
  const fa = fs.openSync(a, 'r');
  const fb = fs.openSync(b, 'r');
  try {
    const ba = Buffer.alloc(1 << 20);
    const bb = Buffer.alloc(1 << 20);
    for (let pos = 0; ;) {
      const n = fs.readSync(fa, ba, 0, ba.length, pos);
      const m = fs.readSync(fb, bb, 0, bb.length, pos);
      if (n !== m || !ba.subarray(0, n).equals(bb.subarray(0, m))) return false;
      if (n === 0) return true;
      pos += n;
    }
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
}

function spoolError(e: unknown, spool: SpoolPaths): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC') {
    markFull(spool);
    return new UserError(`spool ${spool.dir} is full; free space there (nothing was archived, PostgreSQL will retry)`);
  }
  if (code === 'EACCES' || code === 'EPERM')
    return new UserError(`spool ${spool.dir} is not writable by this user; chown it to the PostgreSQL OS user`);
  if (code === 'EROFS') return new UserError(`spool ${spool.dir} is on a read-only file system`);
  return e as Error;
}
