// The sealed object format and the key settings: a sealed object opens only whole, in order,
// under the key it names; keys are refused with a one-line error that never shows a key.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { FRAME_BYTES, HEADER_BYTES, isSealed, openBuffer, Opener, sealBuffer, Sealer } from '../../lib/crypto/frames';
import { keyRingFromEnv, MissingKeyError, parseKeys } from '../../lib/crypto/keyring';
import { CorruptObjectError, UserError } from '../../lib/errors';
import { decodeObject, encodeObject } from '../../lib/objectbody';
import { parseCompression } from '../../lib/codec';

const k1 = randomBytes(32).toString('base64');
const k2 = randomBytes(32).toString('base64');
const ring = parseKeys('test', [`k1:${k1}`, `k2:${k2}`]);
const TAG = 16;
/** Frame i of a sealed object (all but the last are whole). */
const frameAt = (sealed: Buffer, i: number) =>
  sealed.subarray(HEADER_BYTES + i * (FRAME_BYTES + TAG), HEADER_BYTES + (i + 1) * (FRAME_BYTES + TAG));

describe('sealed frames', () => {
  const plain = randomBytes(2 * FRAME_BYTES + 12345);
  const { sealed, keyId } = sealBuffer(ring, plain);

  test('round trip, newest key, any piece sizes, ciphertext unlike the plaintext', () => {
    assert.equal(keyId, 'k2');
    assert.ok(isSealed(sealed));
    assert.equal(sealed.length, HEADER_BYTES + plain.length + 3 * TAG);
    assert.deepEqual(openBuffer(ring, sealed, 'x'), plain);
    assert.equal(sealed.indexOf(plain.subarray(1000, 1032)), -1);
    // Streamed in odd pieces both ways.
    const s = new Sealer(ring);
    const parts: Buffer[] = [];
    for (let at = 0; at < plain.length; at += 77_777) parts.push(...s.push(plain.subarray(at, at + 77_777)));
    parts.push(...s.end());
    const streamed = Buffer.concat(parts);
    const o = new Opener(ring, 'x');
    const out: Buffer[] = [];
    for (let at = 0; at < streamed.length; at += 4099) out.push(...o.push(streamed.subarray(at, at + 4099)));
    out.push(...o.end());
    assert.deepEqual(Buffer.concat(out), plain);
    assert.notDeepEqual(streamed, sealed, 'a random nonce prefix per object');
  });

  test('an empty object and one of exactly one frame round-trip', () => {
    for (const p of [Buffer.alloc(0), randomBytes(FRAME_BYTES)])
      assert.deepEqual(openBuffer(ring, sealBuffer(ring, p).sealed, 'x'), p);
  });

  test('truncation is detected, at a frame boundary too', () => {
    const cutAtFrame = sealed.subarray(0, HEADER_BYTES + 2 * (FRAME_BYTES + TAG));
    assert.throws(() => openBuffer(ring, cutAtFrame, 'x'), /fails authentication.*frame 1, the last/);
    assert.throws(() => openBuffer(ring, sealed.subarray(0, sealed.length - 1), 'x'), CorruptObjectError);
    assert.throws(() => openBuffer(ring, sealed.subarray(0, HEADER_BYTES + 5), 'x'), /cut short/);
    assert.throws(() => openBuffer(ring, sealed.subarray(0, 20), 'x'), /cut short/);
  });

  test('reordered or altered frames, and an edited header, fail authentication', () => {
    const swapped = Buffer.concat([
      sealed.subarray(0, HEADER_BYTES),
      frameAt(sealed, 1),
      frameAt(sealed, 0),
      sealed.subarray(HEADER_BYTES + 2 * (FRAME_BYTES + TAG)),
    ]);
    assert.throws(() => openBuffer(ring, swapped, 'x'), /fails authentication under key "k2" \(frame 0\)/);
    const flipped = Buffer.from(sealed);
    flipped[HEADER_BYTES + FRAME_BYTES + 100] ^= 1;
    assert.throws(() => openBuffer(ring, flipped, 'x'), /frame 1/);
    const prefix = Buffer.from(sealed);
    prefix[HEADER_BYTES - 1] ^= 1;
    assert.throws(() => openBuffer(ring, prefix, 'x'), CorruptObjectError);
    // The header names k1 instead of k2: k1 does not open it.
    const relabelled = Buffer.from(sealed);
    relabelled[6] = '1'.charCodeAt(0);
    assert.throws(() => openBuffer(ring, relabelled, 'x'), /under key "k1"/);
  });

  test('a wrong key under the right id fails; a missing key is named', () => {
    const other = parseKeys('test', [`k2:${randomBytes(32).toString('base64')}`]);
    assert.throws(() => openBuffer(other, sealed, 's:obj'), /s:obj fails authentication under key "k2"/);
    const onlyK1 = parseKeys('test', [`k1:${k1}`]);
    assert.throws(
      () => openBuffer(onlyK1, sealed, 's:obj'),
      (e: unknown) => {
        assert.ok(e instanceof MissingKeyError && e instanceof UserError);
        assert.match(e.message, /s:obj is encrypted with key "k2", which is not among the keys configured here \(k1\)/);
        return true;
      },
    );
    assert.throws(() => openBuffer(undefined, sealed, 's:obj'), /key "k2".*no WALFLOW_ENCRYPTION_KEYS/);
  });
});

describe('object bodies', () => {
  test('compressed, then sealed; plaintext objects of before stay readable; a sealed one must be sealed', async () => {
    const raw = Buffer.from('a row worth keeping '.repeat(1000));
    const zstd = parseCompression('zstd');
    const { stored, keyId } = await encodeObject(raw, zstd, ring);
    assert.ok(stored.length < raw.length / 10, 'compressed before sealing');
    const meta = { codec: 'zstd', rawSize: raw.length, sha256: '', keyId };
    assert.deepEqual(await decodeObject(stored, meta, ring, 'x'), raw);
    const old = await encodeObject(raw, zstd, undefined);
    assert.equal(old.keyId, undefined);
    assert.deepEqual(await decodeObject(old.stored, { ...meta, keyId: undefined }, ring, 'x'), raw);
    await assert.rejects(decodeObject(old.stored, meta, ring, 'x'), /names key "k2" but it is not sealed/);
  });
});

describe('key settings', () => {
  const bad = (entries: string[], re: RegExp) =>
    assert.throws(
      () => parseKeys('WALFLOW_ENCRYPTION_KEYS', entries),
      (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.match(e.message, re);
        assert.ok(!e.message.includes(k1), 'no key in the message');
        assert.ok(!e.message.includes('\n'));
        return true;
      },
    );

  test('newest last; length, duplicates, id characters and shape are checked', () => {
    assert.equal(keyRingFromEnv({ WALFLOW_ENCRYPTION_KEYS: ` a:${k1} , b:${k2} ` })!.currentId, 'b');
    assert.equal(keyRingFromEnv({}), undefined);
    bad([`k1:${randomBytes(16).toString('base64')}`], /key "k1" is not 32 bytes/);
    bad([`k1:${k1}`, `k1:${k2}`], /entry 2: key id "k1" appears twice/);
    bad([`k 1:${k1}`], /key id "k 1" must be/);
    bad([k1], /entry 1 has no "<id>:"/);
    bad([`k1:${k1.slice(0, -4)}!!!!`], /not 32 bytes/);
    bad(['', '# none'], /holds no key/);
    assert.ok(!JSON.stringify({ ring }).includes(k1), 'a ring serializes without its keys');
  });

  test('a key file: 0600 only, comments allowed, not together with WALFLOW_ENCRYPTION_KEYS', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'walflow-keys-'));
    const file = path.join(dir, 'keys');
    fs.writeFileSync(file, `# rotated 2026-01\nold:${k1}\n\nnew:${k2}\n`, { mode: 0o600 });
    try {
      assert.deepEqual(keyRingFromEnv({ WALFLOW_ENCRYPTION_KEY_FILE: file })!.ids, ['old', 'new']);
      fs.chmodSync(file, 0o640);
      assert.throws(
        () => keyRingFromEnv({ WALFLOW_ENCRYPTION_KEY_FILE: file }),
        /readable by group or others \(mode 640\); run chmod 600/,
      );
      assert.throws(
        () => keyRingFromEnv({ WALFLOW_ENCRYPTION_KEY_FILE: file, WALFLOW_ENCRYPTION_KEYS: `a:${k1}` }),
        /not both/,
      );
      assert.throws(() => keyRingFromEnv({ WALFLOW_ENCRYPTION_KEY_FILE: path.join(dir, 'none') }), /ENOENT/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
