// An object's stored bytes from its raw bytes and back, one place per direction: compressed with
// the codec, then sealed (lib/crypto/frames.ts) when keys are configured; opened, which
// authenticates every frame, then decompressed. Compression comes first: ciphertext does not compress.
import { codecByName, type Codec } from './codec';
import { isSealed, openBuffer, sealBuffer } from './crypto/frames';
import type { KeyRing } from './crypto/keyring';
import { CorruptObjectError } from './errors';
import type { ObjectMeta } from './stores/store';

export interface EncodedObject {
  stored: Buffer;
  /** The key it is sealed with; undefined when encryption is off. */
  keyId: string | undefined;
}

export async function encodeObject(raw: Buffer, codec: Codec, ring: KeyRing | undefined): Promise<EncodedObject> {
  const compressed = await codec.compress(raw);
  if (!ring) return { stored: compressed, keyId: undefined };
  const { sealed, keyId } = sealBuffer(ring, compressed);
  return { stored: sealed, keyId };
}

/**
 * The raw bytes of a stored object. Objects written before encryption was turned on are read as
 * they are; one whose metadata names a key must be sealed. `where` names it in messages.
 */
export async function decodeObject(
  stored: Buffer,
  meta: ObjectMeta,
  ring: KeyRing | undefined,
  where: string,
): Promise<Buffer> {
  let compressed = stored;
  if (isSealed(stored)) compressed = openBuffer(ring, stored, where);
  else if (meta.keyId)
    throw new CorruptObjectError(`${where}: its metadata names key "${meta.keyId}" but it is not sealed`);
  try {
    return await codecByName(meta.codec).decompress(compressed, meta.rawSize);
  } catch (e) {
    throw new CorruptObjectError(`${where} does not decompress as ${meta.codec}: ${(e as Error).message}`);
  }
}
