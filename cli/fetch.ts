// `walflow fetch <name> <dest> [--standby]`: PostgreSQL's restore_command ('walflow fetch %f %p').
// The prefetch folder first (filled by the restore workflow, already verified; a file on its way
// there is waited for), then each store in order, failing over on any error.
//
// PostgreSQL reads every exit status up to 125 as "no such file", which in a restore to the end
// of the archive means "promote now". So exit 1 only when every store answered that it does not
// have the file (PostgreSQL asks for files past the end of the archive as a matter of course).
// When some store could not answer, or held only copies that fail verification, the file may
// well exist: retry for WALFLOW_FETCH_GIVE_UP_AFTER, then exit above 125 so that recovery
// aborts with this message instead of ending early. A standby retries forever by itself and
// must not die of a store outage: --standby keeps "not found" for those cases.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDuration } from '../lib/duration';
import { applyEnvFile, requireEnv } from '../lib/env';
import { UserError } from '../lib/errors';
import { fsyncDirSync } from '../lib/fsync';
import { isPlanned, waitForPrefetched } from '../lib/prefetchfolder';
import { parseWalName } from '../lib/wal/name';

export type FetchOutcome = 'prefetched' | 'fetched' | 'missing';

/** "No such file": PostgreSQL ends recovery here (or, on a standby, asks again later). */
export const EXIT_NOT_FOUND = 1;
/** Any status above 125 makes PostgreSQL abort recovery rather than take it for the end of the archive. */
export const EXIT_ABORT_RECOVERY = 200;

const DEFAULT_GIVE_UP_MS = 60_000;
const MAX_RETRY_DELAY_MS = 10_000;

/** The whole command: every outcome, errors included, becomes an exit status and at most one line on stderr. */
export async function fetchCommand(argv: string[]): Promise<number> {
  const standby = argv.includes('--standby');
  let name = '';
  try {
    const args = applyEnvFile(argv).filter((a) => a !== '--' && a !== '--standby');
    const at = args.indexOf('--prefetch-dir');
    const prefetchDir = at >= 0 ? args.splice(at, 2)[1] : process.env.WALFLOW_PREFETCH_DIR;
    if (args.length !== 2 || (at >= 0 && !prefetchDir))
      throw new UserError(
        "usage: walflow fetch <name> <dest> [--prefetch-dir DIR] [--standby]   (restore_command = 'walflow fetch %f %p')",
      );
    name = args[0];
    return (await fetchWal(args[0], args[1], { standby, prefetchDir })) === 'missing' ? EXIT_NOT_FOUND : 0;
  } catch (e) {
    const message =
      e instanceof UserError
        ? e.message
        : `internal error (a bug, please report it): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
    process.stderr.write(`walflow fetch${name ? ` ${name}` : ''}: ${oneLine(message)}\n`);
    return standby ? EXIT_NOT_FOUND : EXIT_ABORT_RECOVERY;
  }
}

export async function fetchWal(
  name: string,
  dest: string,
  { standby = false, prefetchDir = process.env.WALFLOW_PREFETCH_DIR }: { standby?: boolean; prefetchDir?: string } = {},
): Promise<FetchOutcome> {
  const wal = parseWalName(name);
  if (!wal) throw new UserError(`"${name}" is not a WAL file name; restore_command must be 'walflow fetch %f %p'`);
  let planned = false;
  if (prefetchDir) {
    const take = () => takePrefetched(path.join(prefetchDir, name), dest);
    if (take()) return 'prefetched';
    planned = isPlanned(prefetchDir, name);
    if (planned && (await waitForPrefetched(prefetchDir, name, take))) return 'prefetched';
  }

  const cluster = requireEnv('WALFLOW_CLUSTER', 'name the cluster to restore from, e.g. WALFLOW_CLUSTER=main');
  const giveUpMs = giveUpAfter();
  // Loaded only now: the prefetched path above must not pay for the store drivers.
  const [{ storesFromEnv }, { readFromAnyStore }, { walKeyCandidates }, { keyRingFromEnv }] = await Promise.all([
    import('../lib/stores/fromenv'),
    import('../lib/verified'),
    import('../lib/walkeys'),
    import('../lib/crypto/keyring'),
  ]);
  const stores = storesFromEnv();
  const ring = keyRingFromEnv(process.env);
  const keys = walKeyCandidates(cluster, wal, process.env.WALFLOW_COMPRESSION);
  const started = Date.now();
  for (let attempt = 1, delay = 1000; ; attempt++, delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS)) {
    const { found, errors, absent } = await readFromAnyStore(stores, keys, ring);
    if (found) {
      for (const e of errors)
        process.stderr.write(`walflow fetch ${name}: ${oneLine(e)} (read from ${found.store} instead)\n`);
      writeFetched(dest, found.raw);
      return 'fetched';
    }
    if (errors.length === 0) {
      // The catalog records it as archived: "no such file" would end recovery here, before the rest.
      if (planned && !standby)
        throw new UserError(
          `recorded as archived but no store has it; recovery stops here rather than end early: run 'walflow verify' to find the gap`,
        );
      return 'missing'; // every store answered "not there": the end of the archive
    }
    const why = [...errors, ...absent.map((s) => `${s}: no such file`)].join('; ');
    if (standby) {
      process.stderr.write(
        `walflow fetch ${name}: ${oneLine(why)}; reported as not found (--standby), PostgreSQL will ask again\n`,
      );
      return 'missing';
    }
    const elapsed = Date.now() - started;
    if (elapsed >= giveUpMs) {
      throw new UserError(
        `no store handed over a verified copy in ${attempt} attempt(s) over ${Math.round(elapsed / 1000)}s (${why}); ` +
          'recovery stops here rather than end early: repair or bring back that store and start PostgreSQL again, ' +
          'or restore again from the stores that answer (walflow restore --stores NAME,...)',
      );
    }
    await new Promise((r) => setTimeout(r, Math.min(delay, giveUpMs - elapsed)));
  }
}

function giveUpAfter(): number {
  const text = process.env.WALFLOW_FETCH_GIVE_UP_AFTER;
  if (text === undefined || text === '') return DEFAULT_GIVE_UP_MS;
  try {
    return parseDuration(text);
  } catch (e) {
    throw new UserError(`WALFLOW_FETCH_GIVE_UP_AFTER: ${(e as Error).message}`);
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' | ');
}

function writeFetched(dest: string, data: Buffer): void {
  try {
    writeAtomically(dest, data);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'ENOSPC' || code === 'ENOENT' || code === 'EROFS') {
      throw new UserError(
        `cannot write ${dest}: ${code}; restore_command must be 'walflow fetch %f %p', run by the PostgreSQL user`,
      );
    }
    throw e;
  }
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
  fsyncDirSync(path.dirname(dest));
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
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, dest);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDirSync(path.dirname(dest));
}
