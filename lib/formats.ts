// The formats of what walflow writes into the stores. What a newer walflow wrote in a format
// this one does not know is refused with a message to upgrade, never read by guesswork: a
// guess could restore the wrong bytes or prune what a newer backup needs.
import type { BackupManifest } from './contracts';
import { UnknownFormatError } from './errors';

/** manifest.json of a full base backup: its `format` field. */
export const MANIFEST_FORMAT = 1;
/** manifest.json of an incremental backup: format 1 plus `parent`, which a reader must not ignore. */
export const INCREMENTAL_MANIFEST_FORMAT = 2;
/** Object metadata (codec, raw size, SHA-256): the walflow-format header, absent before it was written. */
export const METADATA_FORMAT = 1;
/** cluster.json: its `format` field, absent before it was written. */
export const CLUSTER_JSON_FORMAT = 1;

/** `format` undefined counts as the first format only where `absentIsFirst`: marks added later. */
export function requireKnownFormat(what: string, format: unknown, known: number, absentIsFirst: boolean): void {
  if (format === undefined && absentIsFirst) return;
  if (String(format) !== String(known)) throw new UnknownFormatError(what, format, known);
}

export function parseManifest(raw: Buffer, backupId: string): BackupManifest {
  // Typed by what it should be, checked as what it may be: a newer walflow's format.
  const manifest = JSON.parse(raw.toString()) as Omit<BackupManifest, 'format'> & { format: unknown };
  const what = `manifest.json of backup ${backupId}`;
  if (manifest.format === MANIFEST_FORMAT && manifest.parent === undefined) return manifest as BackupManifest;
  if (manifest.format === INCREMENTAL_MANIFEST_FORMAT && typeof manifest.parent === 'string' && manifest.parent)
    return manifest as BackupManifest;
  if (manifest.format === MANIFEST_FORMAT || manifest.format === INCREMENTAL_MANIFEST_FORMAT)
    throw new Error(`${what} is not a walflow manifest: only format 2, an incremental backup, names a parent`);
  throw new UnknownFormatError(what, manifest.format, `${MANIFEST_FORMAT} or ${INCREMENTAL_MANIFEST_FORMAT}`);
}
