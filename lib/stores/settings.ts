// The store settings, WALFLOW_STORES and WALFLOW_STORE_<NAME>_*: the one schema that the worker
// and every command (through lib/config.ts) and `walflow fetch` read. fetch runs once per WAL
// file during recovery, so this module is plain code: zod alone would add ~70 ms to every call.
import * as fs from 'node:fs';
import { parseDuration } from '../duration';
import { UserError } from '../errors';
import type { S3StoreConfig } from './s3';

export type StoreConfig = ({ type: 's3' } & S3StoreConfig) | { type: 'fs'; name: string; path: string };

export interface StoreSettings {
  store: StoreConfig;
  /** The store's own retention (RETENTION_DAYS), part of the cluster's policy. */
  retentionDays: number | undefined;
}

/** The worker's per-request limit on a store; fetch passes its own, shorter, default. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** Where a store's settings are: WALFLOW_STORE_<NAME>_. */
export const storeSettingPrefix = (name: string) => `WALFLOW_STORE_${name.toUpperCase().replace(/-/g, '_')}_`;

/** WALFLOW_STORES, in order: the stores are tried in this order when reading. */
export function storeNames(env: NodeJS.ProcessEnv): string[] {
  const names = (env.WALFLOW_STORES ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) throw new UserError('WALFLOW_STORES is not set: list the stores, e.g. WALFLOW_STORES=r2,b2');
  const bad = names.filter((n) => !NAME.test(n));
  if (bad.length)
    throw new UserError(`WALFLOW_STORES: "${bad.join('", "')}": store names are lower-case letters, digits, - and _`);
  return names;
}

/** Every store's settings; each store's problems are reported together, in one line. */
export function parseStoreSettings(
  env: NodeJS.ProcessEnv,
  { requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS } = {},
): StoreSettings[] {
  return storeNames(env).map((name) => parseStore(name, env, requestTimeoutMs));
}

function parseStore(name: string, env: NodeJS.ProcessEnv, defaultTimeoutMs: number): StoreSettings {
  const p = storeSettingPrefix(name);
  const problems: string[] = [];
  const text = (key: string) => {
    const v = env[p + key];
    return v === undefined || v === '' ? undefined : v;
  };
  const required = (key: string) => {
    const v = text(key);
    if (v === undefined) problems.push(`${p}${key}: required`);
    return v ?? '';
  };
  /** Parses an optional setting; a bad value is a problem, and the result then does not matter. */
  const optional = <T>(key: string, parse: (v: string) => T, dflt: T): T => {
    const v = text(key);
    if (v === undefined) return dflt;
    try {
      return parse(v);
    } catch (e) {
      problems.push(`${p}${key}: ${(e as Error).message}`);
      return dflt;
    }
  };
  const retentionDays = optional<number | undefined>('RETENTION_DAYS', wholeDays, undefined);
  const type = required('TYPE');
  let store: StoreConfig | undefined;
  if (type === 'fs') store = { type: 'fs', name, path: required('PATH') };
  else if (type === 's3')
    store = {
      type: 's3',
      name,
      endpoint: optional<string | undefined>('ENDPOINT', url, undefined),
      region: text('REGION') ?? 'auto',
      bucket: required('BUCKET'),
      prefix: text('PREFIX') ?? '',
      accessKeyId: required('ACCESS_KEY_ID'),
      secretAccessKey: required('SECRET_ACCESS_KEY'),
      forcePathStyle: optional('FORCE_PATH_STYLE', yesNo, false),
      conditionalPut: optional('CONDITIONAL_PUT', yesNo, true),
      requestTimeoutMs: optional('REQUEST_TIMEOUT', parseDuration, defaultTimeoutMs),
      caFile: optional<string | undefined>('CA_FILE', readableFile, undefined),
    };
  else if (type) problems.push(`${p}TYPE: "${type}" is not a store type: use s3 or fs`);
  if (problems.length || !store) throw new UserError(`store "${name}": ${problems.join('; ')}`);
  return { store, retentionDays };
}

function yesNo(v: string): boolean {
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  throw new Error(`"${v}": use true or false`);
}

function wholeDays(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < 1) throw new Error(`"${v}": a whole number of days, at least 1`);
  return n;
}

/** A file the process can read now: a typo surfaces at start-up, not at the first upload. */
function readableFile(v: string): string {
  try {
    fs.accessSync(v, fs.constants.R_OK);
  } catch (e) {
    throw new Error(
      `cannot read "${v}" (${(e as NodeJS.ErrnoException).code ?? 'error'}): give a PEM file readable by this user`,
      { cause: e },
    );
  }
  return v;
}

function url(v: string): string {
  try {
    new URL(v);
  } catch {
    throw new Error(`"${v}" is not a URL (e.g. https://<account>.r2.cloudflarestorage.com)`);
  }
  return v;
}
