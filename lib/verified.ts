// Reading objects back with their checksum verified, failing over between stores. Shared by
// `walflow fetch` (restore_command), WAL prefetch and base-backup download, so it must stay
// free of heavy imports: stores are handed in already opened.
import { createHash } from 'node:crypto';
import { MissingKeyError, type KeyRing } from './crypto/keyring';
import { CorruptObjectError } from './errors';
import { decodeObject } from './objectbody';
import type { ObjectMeta, Store } from './stores/store';

export interface VerifiedObject {
  raw: Buffer;
  store: string;
  key: string;
  /** The object as stored (compressed), and its metadata: what a copy into another store needs. */
  stored: Buffer;
  meta: ObjectMeta;
  storedSize: number;
}

/**
 * Reads, opens, decompresses and checks one object against its metadata and, when given, against
 * the checksum recorded elsewhere (the catalog); undefined when the store does not have it.
 */
export async function readVerified(
  store: Store,
  key: string,
  ring: KeyRing | undefined,
  signal?: AbortSignal,
  expectedSha256?: string,
): Promise<VerifiedObject | undefined> {
  // One GET brings the metadata too: a HEAD first would cost each read a second request.
  const found = await store.read(key, signal);
  if (!found) return undefined;
  const { body: stored, info } = found;
  const meta = info.meta;
  if (!meta) throw new CorruptObjectError(`${store.name}:${key} has no walflow metadata (codec, size, sha256)`);
  if (expectedSha256 !== undefined && meta.sha256 !== expectedSha256)
    throw new CorruptObjectError(
      `${store.name}:${key} has checksum ${meta.sha256}, not the ${expectedSha256} recorded`,
    );
  const raw = await decodeObject(stored, meta, ring, `${store.name}:${key}`);
  const sha256 = createHash('sha256').update(raw).digest('hex');
  if (sha256 !== meta.sha256 || raw.length !== meta.rawSize) {
    throw new CorruptObjectError(
      `${store.name}:${key} is corrupt: sha256 ${sha256} (${raw.length} bytes), metadata says ${meta.sha256} (${meta.rawSize} bytes)`,
    );
  }
  return { raw, store: store.name, key, stored, meta, storedSize: stored.length };
}

/**
 * Tries each store in order and, within a store, each candidate key (the same file under
 * another codec's suffix). Any error moves on to the next store. When no store gave a verified
 * copy, `absent` names the stores that answered "not there" and `errors` says how the others
 * failed: only no errors at all means that the file does not exist. A missing key that kept every
 * store's copy closed is thrown: no retry or other store can mend that, a human must add the key.
 */
export async function readFromAnyStore(
  stores: Store[],
  keys: string[],
  ring: KeyRing | undefined,
  signal?: AbortSignal,
): Promise<{ found: VerifiedObject | undefined; errors: string[]; absent: string[] }> {
  const errors: string[] = [];
  const absent: string[] = [];
  let missingKey: MissingKeyError | undefined;
  for (const store of stores) {
    try {
      for (const key of keys) {
        const found = await readVerified(store, key, ring, signal);
        if (found) return { found, errors, absent };
      }
      absent.push(store.name);
    } catch (e) {
      if (signal?.aborted) throw e;
      if (e instanceof MissingKeyError) missingKey = e;
      errors.push(`${store.name}: ${(e as Error).message}`);
    }
  }
  if (missingKey) throw missingKey;
  return { found: undefined, errors, absent };
}
