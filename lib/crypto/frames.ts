// The sealed object format: AES-256-GCM over fixed-size frames, so that an object of any size is
// sealed and opened as a stream, holding one frame at a time.
//
//   header  "WFE" 0x01 | key id length (1) | key id, zero-padded (32) | nonce prefix (8, random per object)
//   frames  ciphertext (FRAME_BYTES, the last one shorter or empty) | GCM tag (16)
//
// A frame's nonce is the object's prefix and the frame's number; its additional data is the
// header, the frame's number and whether it is the last. So a frame moved, dropped or cut off,
// a header edited (another key id), or an object cut at a frame boundary fails authentication.
// The header has one size whatever the key id, so the stored size does not change with the key.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { CorruptObjectError } from '../errors';
import { MissingKeyError, type KeyRing } from './keyring';

const MAGIC = Buffer.from([0x57, 0x46, 0x45, 0x01]); // "WFE", format 1
const ID_FIELD = 32;
const PREFIX_BYTES = 8;
const TAG_BYTES = 16;
export const HEADER_BYTES = MAGIC.length + 1 + ID_FIELD + PREFIX_BYTES;
export const FRAME_BYTES = 1 << 20;
const MAX_FRAMES = 2 ** 32;

/** Whether stored bytes are a sealed object (the key id is then `sealedKeyId`). */
export function isSealed(stored: Buffer): boolean {
  return stored.length >= MAGIC.length && stored.subarray(0, MAGIC.length).equals(MAGIC);
}

/** The key id in a sealed object's header. */
export function sealedKeyId(header: Buffer): string {
  const len = header[MAGIC.length];
  return header.subarray(MAGIC.length + 1, MAGIC.length + 1 + Math.min(len, ID_FIELD)).toString('latin1');
}

function nonce(prefix: Buffer, frame: number): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0);
  n.writeUInt32BE(frame, PREFIX_BYTES);
  return n;
}

function additionalData(header: Buffer, frame: number, last: boolean): Buffer {
  const tail = Buffer.alloc(5);
  tail.writeUInt32BE(frame, 0);
  tail[4] = last ? 1 : 0;
  return Buffer.concat([header, tail]);
}

/** Bytes arriving in pieces, taken out in sizes of the caller's choosing without copying where one piece holds them. */
class Pending {
  private pieces: Buffer[] = [];
  bytes = 0;
  add(b: Buffer): void {
    if (b.length === 0) return;
    this.pieces.push(b);
    this.bytes += b.length;
  }
  take(n: number): Buffer {
    let out: Buffer;
    if (this.pieces.length > 0 && this.pieces[0].length >= n) {
      out = this.pieces[0].subarray(0, n);
      this.pieces[0] = this.pieces[0].subarray(n);
      if (this.pieces[0].length === 0) this.pieces.shift();
    } else {
      const all = Buffer.concat(this.pieces);
      out = all.subarray(0, n);
      this.pieces = all.length > n ? [all.subarray(n)] : [];
    }
    this.bytes -= out.length;
    return out;
  }
}

/** Seals one object with the ring's newest key: push plaintext in any pieces, then end. */
export class Sealer {
  readonly keyId: string;
  readonly #key: Buffer;
  readonly #header: Buffer;
  readonly #prefix = randomBytes(PREFIX_BYTES);
  readonly #pending = new Pending();
  #frame = 0;
  #headerSent = false;

  constructor(ring: KeyRing) {
    this.keyId = ring.currentId;
    this.#key = ring.key(this.keyId, 'a new object');
    const id = Buffer.from(this.keyId, 'latin1');
    this.#header = Buffer.concat([
      MAGIC,
      Buffer.from([id.length]),
      id,
      Buffer.alloc(ID_FIELD - id.length),
      this.#prefix,
    ]);
  }

  push(plain: Buffer): Buffer[] {
    this.#pending.add(plain);
    const out = this.#start();
    // A full frame is sealed only once more bytes follow it: the last frame must know it is last.
    while (this.#pending.bytes > FRAME_BYTES) out.push(...this.#seal(this.#pending.take(FRAME_BYTES), false));
    return out;
  }

  end(): Buffer[] {
    return [...this.#start(), ...this.#seal(this.#pending.take(this.#pending.bytes), true)];
  }

  #start(): Buffer[] {
    if (this.#headerSent) return [];
    this.#headerSent = true;
    return [this.#header];
  }

  #seal(plain: Buffer, last: boolean): Buffer[] {
    if (this.#frame >= MAX_FRAMES) throw new Error('object too large to seal: more than 2^32 frames');
    const c = createCipheriv('aes-256-gcm', this.#key, nonce(this.#prefix, this.#frame));
    c.setAAD(additionalData(this.#header, this.#frame++, last));
    const body = c.update(plain);
    c.final();
    return [body, c.getAuthTag()];
  }
}

/** Opens one sealed object, checking every frame: push stored bytes in any pieces, then end. */
export class Opener {
  readonly #pending = new Pending();
  #header: Buffer | undefined;
  #key: Buffer | undefined;
  #keyId = '';
  #frame = 0;

  /** `where` names the object in messages: store and key. */
  constructor(
    private readonly ring: KeyRing | undefined,
    private readonly where: string,
  ) {}

  push(stored: Buffer): Buffer[] {
    this.#pending.add(stored);
    if (!this.#header) {
      if (this.#pending.bytes < HEADER_BYTES) return [];
      this.#readHeader(this.#pending.take(HEADER_BYTES));
    }
    const out: Buffer[] = [];
    while (this.#pending.bytes > FRAME_BYTES + TAG_BYTES)
      out.push(this.#open(this.#pending.take(FRAME_BYTES + TAG_BYTES), false));
    return out;
  }

  end(): Buffer[] {
    if (!this.#header) {
      if (this.#pending.bytes < HEADER_BYTES)
        throw new CorruptObjectError(`${this.where} is cut short: ${this.#pending.bytes} bytes, no whole header`);
      this.#readHeader(this.#pending.take(HEADER_BYTES));
    }
    if (this.#pending.bytes < TAG_BYTES)
      throw new CorruptObjectError(`${this.where} is cut short: its last frame has no authentication tag`);
    return [this.#open(this.#pending.take(this.#pending.bytes), true)];
  }

  #readHeader(header: Buffer): void {
    if (!isSealed(header)) throw new CorruptObjectError(`${this.where} is not a sealed walflow object`);
    this.#keyId = sealedKeyId(header);
    if (!this.ring) throw new MissingKeyError(this.where, this.#keyId, []);
    this.#key = this.ring.key(this.#keyId, this.where);
    this.#header = header;
  }

  #open(frame: Buffer, last: boolean): Buffer {
    const n = this.#frame++;
    const d = createDecipheriv('aes-256-gcm', this.#key!, nonce(this.#header!.subarray(-PREFIX_BYTES), n));
    d.setAAD(additionalData(this.#header!, n, last));
    d.setAuthTag(frame.subarray(frame.length - TAG_BYTES));
    const plain = d.update(frame.subarray(0, frame.length - TAG_BYTES));
    try {
      d.final();
    } catch {
      throw new CorruptObjectError(
        `${this.where} fails authentication under key "${this.#keyId}" (frame ${n}${last ? ', the last' : ''}): ` +
          'it was altered or cut short, or the key configured under that id is not the one it was sealed with',
      );
    }
    return plain;
  }
}

/** A whole object sealed with the ring's newest key. */
export function sealBuffer(ring: KeyRing, plain: Buffer): { sealed: Buffer; keyId: string } {
  const s = new Sealer(ring);
  return { sealed: Buffer.concat([...s.push(plain), ...s.end()]), keyId: s.keyId };
}

/** A whole sealed object opened and authenticated. */
export function openBuffer(ring: KeyRing | undefined, stored: Buffer, where: string): Buffer {
  const o = new Opener(ring, where);
  return Buffer.concat([...o.push(stored), ...o.end()]);
}
