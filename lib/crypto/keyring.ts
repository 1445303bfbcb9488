// The encryption keys: WALFLOW_ENCRYPTION_KEYS or WALFLOW_ENCRYPTION_KEY_FILE, parsed and checked
// here only. `walflow fetch` reads them once per WAL file, so this module is plain code.
import * as fs from 'node:fs';
import { UserError } from '../errors';

/** Key ids go into object headers and metadata: short, and safe in an HTTP header. */
export const KEY_ID = /^[A-Za-z0-9._-]{1,32}$/;
const KEY_BYTES = 32;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const HOW = 'entries are <id>:<base64 of 32 random bytes> (openssl rand -base64 32), newest last';

/**
 * The keys an object may be sealed with; the newest seals new objects. The key bytes live in a
 * private field so that no log line or JSON of a config that holds the ring can show them.
 */
export class KeyRing {
  readonly #keys: Map<string, Buffer>;
  readonly currentId: string;

  constructor(entries: { id: string; key: Buffer }[]) {
    this.#keys = new Map(entries.map((e) => [e.id, e.key]));
    this.currentId = entries[entries.length - 1].id;
  }

  get ids(): string[] {
    return [...this.#keys.keys()];
  }

  /** The key with this id; a MissingKeyError naming it when this ring lacks it. */
  key(id: string, where: string): Buffer {
    const key = this.#keys.get(id);
    if (!key) throw new MissingKeyError(where, id, this.ids);
    return key;
  }
}

/** An object sealed with a key that is not configured here: no store can help, a human must add the key. */
export class MissingKeyError extends UserError {
  constructor(where: string, keyId: string, known: string[]) {
    super(
      `${where} is encrypted with key "${keyId}", which ` +
        (known.length
          ? `is not among the keys configured here (${known.join(', ')})`
          : 'cannot be read: no WALFLOW_ENCRYPTION_KEYS or WALFLOW_ENCRYPTION_KEY_FILE is set') +
        `; add key "${keyId}" to the keys (keep old keys after a rotation)`,
    );
    this.name = 'MissingKey';
  }
}

/** The configured keys, or undefined when encryption is off. */
export function keyRingFromEnv(env: NodeJS.ProcessEnv): KeyRing | undefined {
  const inline = env.WALFLOW_ENCRYPTION_KEYS?.trim();
  const file = env.WALFLOW_ENCRYPTION_KEY_FILE?.trim();
  if (inline && file) throw new UserError('set WALFLOW_ENCRYPTION_KEYS or WALFLOW_ENCRYPTION_KEY_FILE, not both');
  if (inline) return parseKeys('WALFLOW_ENCRYPTION_KEYS', inline.split(','));
  if (file) return parseKeys(`WALFLOW_ENCRYPTION_KEY_FILE ${file}`, readKeyFile(file).split('\n'));
  return undefined;
}

function readKeyFile(file: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new UserError(
      `WALFLOW_ENCRYPTION_KEY_FILE ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}; check the path and that this user may read it`,
    );
  }
  if (st.mode & 0o077)
    throw new UserError(
      `WALFLOW_ENCRYPTION_KEY_FILE ${file} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); run chmod 600 ${file}`,
    );
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(
      `WALFLOW_ENCRYPTION_KEY_FILE ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}; it must be readable by this user`,
    );
  }
}

/** Entries `<id>:<base64>`; blank entries and `#` comments are skipped. Messages never show a key. */
export function parseKeys(source: string, entries: string[]): KeyRing {
  const keys: { id: string; key: Buffer }[] = [];
  entries.forEach((text, i) => {
    const entry = text.trim();
    if (!entry || entry.startsWith('#')) return;
    const at = `${source}: entry ${i + 1}`;
    const colon = entry.indexOf(':');
    if (colon < 0) throw new UserError(`${at} has no "<id>:"; ${HOW}`);
    const id = entry.slice(0, colon).trim();
    const b64 = entry.slice(colon + 1).trim();
    if (!KEY_ID.test(id))
      throw new UserError(`${at}: key id "${id}" must be 1-32 letters, digits, ".", "_" or "-"; ${HOW}`);
    if (keys.some((k) => k.id === id)) throw new UserError(`${at}: key id "${id}" appears twice; ids must be unique`);
    const key = Buffer.from(b64, 'base64');
    if (!BASE64.test(b64) || key.length !== KEY_BYTES)
      throw new UserError(`${at}: key "${id}" is not ${KEY_BYTES} bytes of base64; ${HOW}`);
    keys.push({ id, key });
  });
  if (keys.length === 0) throw new UserError(`${source} holds no key; ${HOW}`);
  return new KeyRing(keys);
}
