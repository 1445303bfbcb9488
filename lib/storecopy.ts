// Copying a WAL object from one store to another, store to store: verify's repair and the
// copies owed to a store that missed files while it was down. Only a copy whose raw bytes hash
// to the recorded checksum is read, and the new copy is read back and checked the same way.
// The stored bytes are copied as they are: a sealed copy keeps its key, and is opened only to check it.
import type { KeyRing } from './crypto/keyring';
import { CorruptObjectError } from './errors';
import type { ObjectMeta, Store } from './stores/store';
import { readVerified } from './verified';

/** What a copy must hash to; storedSize when the catalog knows it. */
export interface Reference {
  sha256: string;
  storedSize: number | undefined;
}

export interface VerifiedCopy {
  body: Buffer;
  meta: ObjectMeta;
}

/**
 * Downloads a copy and checks that it opens and its raw bytes hash to the reference; undefined
 * when they do not. A key missing here is thrown: that says nothing about the copy.
 */
export async function readMatching(
  store: Store,
  key: string,
  ref: Reference,
  ring: KeyRing | undefined,
  signal: AbortSignal,
): Promise<VerifiedCopy | undefined> {
  try {
    const found = await readVerified(store, key, ring, signal, ref.sha256);
    return found && { body: found.stored, meta: found.meta };
  } catch (e) {
    if (e instanceof CorruptObjectError) return undefined;
    throw e;
  }
}

/** The first verified copy among `sources`, in order; a source holding a bad copy is passed over. */
export async function findMatching(
  sources: Store[],
  key: string,
  ref: Reference,
  ring: KeyRing | undefined,
  signal: AbortSignal,
): Promise<VerifiedCopy | undefined> {
  for (const s of sources) {
    const found = await readMatching(s, key, ref, ring, signal);
    if (found) return found;
  }
  return undefined;
}

/** Writes `copy` to `target` create-only and reads it back; true when the target now holds a verified copy. */
export async function putMatching(
  target: Store,
  key: string,
  copy: VerifiedCopy,
  ref: Reference,
  ring: KeyRing | undefined,
  signal: AbortSignal,
): Promise<boolean> {
  await target.putNew(key, copy.body, copy.meta, signal);
  return (await readMatching(target, key, ref, ring, signal)) !== undefined;
}
