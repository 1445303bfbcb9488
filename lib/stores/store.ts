// One contract for every object store: the S3 and folder drivers implement it, and walflow reaches
// objects through nothing else.
import type { Readable } from 'node:stream';
import { ConflictError } from '../errors';
import { METADATA_FORMAT, requireKnownFormat } from '../formats';

/** What every walflow object carries: how it is encoded and what the raw bytes are. */
export interface ObjectMeta {
  codec: string;
  rawSize: number;
  sha256: string;
  /** A WAL segment's index (lib/wal/segmentindex.ts), as text; stores carry it unread. */
  walIndex?: string;
  /** The key the object is sealed with (lib/crypto), when encryption was on; its header says the same. */
  keyId?: string;
}

export interface ObjectInfo {
  key: string;
  size: number;
  meta: ObjectMeta | undefined;
  lastModified: Date | undefined;
}

export type Body = Buffer | { path: string; size: number };

export interface Store {
  readonly name: string;
  /** undefined when absent. */
  head(key: string, signal?: AbortSignal): Promise<ObjectInfo | undefined>;
  /** Throws NotFoundError when absent. */
  get(key: string, signal?: AbortSignal): Promise<Buffer>;
  /** The object and what head would say of it, in one request; undefined when absent. */
  read(key: string, signal?: AbortSignal): Promise<{ body: Buffer; info: ObjectInfo } | undefined>;
  getStream(key: string, signal?: AbortSignal): Promise<Readable>;
  /** Writes only when the key is absent: 'exists' when something is already there. */
  putNew(key: string, body: Body, meta: ObjectMeta, signal?: AbortSignal): Promise<'created' | 'exists'>;
  list(prefix: string, signal?: AbortSignal): AsyncIterable<ObjectInfo>;
  delete(key: string, signal?: AbortSignal): Promise<void>;
  /** Human-readable place, for messages: s3://bucket/prefix or a folder. */
  readonly location: string;
}

/** An S3 store's key prefix: empty, or ending in one slash. */
export const s3KeyPrefix = (prefix: string) => (prefix ? prefix.replace(/\/+$/, '') + '/' : '');
/** An S3 store's location for messages, known before its driver is loaded. */
export const s3Location = (bucket: string, prefix: string) => `s3://${bucket}/${s3KeyPrefix(prefix)}`;

/**
 * Create-only put: an object already there with the same SHA-256 is success, one with a
 * different SHA-256 is a ConflictError, never an overwrite.
 */
export async function putCreateOnly(
  store: Store,
  key: string,
  body: Body,
  meta: ObjectMeta,
  signal?: AbortSignal,
): Promise<'created' | 'exists'> {
  const outcome = await store.putNew(key, body, meta, signal);
  if (outcome === 'created') return outcome;
  const existing = await store.head(key, signal);
  if (!existing) throw new Error(`${store.name}: ${key} reported as existing but HEAD finds nothing; retry`);
  if (existing.meta?.sha256 !== meta.sha256) {
    throw new ConflictError(
      `${store.name}: ${key} already holds different content (sha256 ${existing.meta?.sha256 ?? 'unknown'}, ` +
        `new ${meta.sha256}); not overwritten`,
    );
  }
  return 'exists';
}

/** Metadata as S3 user metadata (lower-case keys) and back. */
export function metaToHeaders(meta: ObjectMeta): Record<string, string> {
  return {
    'walflow-format': String(METADATA_FORMAT),
    'walflow-codec': meta.codec,
    'walflow-raw-size': String(meta.rawSize),
    'walflow-sha256': meta.sha256,
    ...(meta.walIndex ? { 'walflow-index': meta.walIndex } : {}),
    ...(meta.keyId ? { 'walflow-key-id': meta.keyId } : {}),
  };
}

export function metaFromHeaders(h: Record<string, string> | undefined, key: string): ObjectMeta | undefined {
  if (!h || !h['walflow-sha256']) return undefined;
  requireKnownFormat(`the walflow metadata of ${key}`, h['walflow-format'], METADATA_FORMAT, true);
  return {
    codec: h['walflow-codec'] ?? 'none',
    rawSize: Number(h['walflow-raw-size']),
    sha256: h['walflow-sha256'],
    ...(h['walflow-index'] ? { walIndex: h['walflow-index'] } : {}),
    ...(h['walflow-key-id'] ? { keyId: h['walflow-key-id'] } : {}),
  };
}
