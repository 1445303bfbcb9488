// Proves on a live store what walflow relies on: it accepts a write with these credentials, and a
// second write under the same name never replaces the first. Uses one probe object of its own,
// removed afterwards.
import { createHash, randomUUID } from 'node:crypto';
import { probeKey } from '../keys';
import type { ObjectMeta, Store } from './store';

export type ProbeOutcome =
  /** The second write was refused and the first bytes are still there. */
  | 'create-only'
  /** The store replaced the first object with the second. */
  | 'overwrites'
  /** The store said it wrote the second object, yet kept the first. */
  | 'claims-overwrite';

export interface ProbeResult {
  outcome: ProbeOutcome;
  removed: boolean;
}

function body(text: string): { data: Buffer; meta: ObjectMeta } {
  const data = Buffer.from(text);
  return {
    data,
    meta: { codec: 'none', rawSize: data.length, sha256: createHash('sha256').update(data).digest('hex') },
  };
}

/** Throws what the store throws (unreachable, credentials refused, no bucket). */
export async function probeCreateOnly(store: Store, cluster: string, hostId: string): Promise<ProbeResult> {
  const key = probeKey(cluster, `${hostId}-${randomUUID()}`);
  const first = body(`walflow doctor probe ${key}: first\n`);
  const second = body(`walflow doctor probe ${key}: second\n`);
  let outcome: ProbeOutcome;
  try {
    await store.putNew(key, first.data, first.meta);
    const again = await store.putNew(key, second.data, second.meta);
    const held = await store.get(key);
    if (held.equals(second.data)) outcome = 'overwrites';
    else outcome = again === 'created' ? 'claims-overwrite' : 'create-only';
  } finally {
    await store.delete(key).catch(() => undefined);
  }
  return { outcome, removed: (await store.head(key)) === undefined };
}
