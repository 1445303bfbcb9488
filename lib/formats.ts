// The formats of what walflow writes into the stores. What a newer walflow wrote in a format
// this one does not know is refused with a message to upgrade, never read by guesswork: a
// guess could restore the wrong bytes or prune what a newer backup needs.
import type { BackupManifest } from './contracts';
import { UnknownFormatError } from './errors';

/** manifest.json of a base backup: its `format` field. */
export const MANIFEST_FORMAT = 1;
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
  const manifest = JSON.parse(raw.toString()) as BackupManifest;
  requireKnownFormat(`manifest.json of backup ${backupId}`, manifest.format, MANIFEST_FORMAT, false);
  return manifest;
}
