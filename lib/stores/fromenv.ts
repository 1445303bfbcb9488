// Stores straight from the environment, without zod and without loading the AWS SDK until an
// S3 store is actually used: `walflow fetch` runs once per segment during recovery and most
// of its calls are answered from the prefetch folder. `walflow worker` validates the same
// settings fully (lib/config.ts) before any restore writes them for fetch.
import { UserError } from '../errors';
import { FsStore } from './fs';
import { s3Location, type Store } from './store';

function setting(prefix: string, name: string, env: NodeJS.ProcessEnv): string | undefined {
  const v = env[prefix + name];
  return v === undefined || v === '' ? undefined : v;
}

function required(prefix: string, name: string, env: NodeJS.ProcessEnv): string {
  const v = setting(prefix, name, env);
  if (v === undefined) throw new UserError(`${prefix}${name} is not set (in the environment or the --env-file)`);
  return v;
}

/** Opens each configured store, in WALFLOW_STORES order; S3 stores load the SDK on first use. */
export function storesFromEnv(env: NodeJS.ProcessEnv = process.env): Store[] {
  const names = (env.WALFLOW_STORES ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) throw new UserError('WALFLOW_STORES is not set: list the stores, e.g. WALFLOW_STORES=r2,b2');
  return names.map((name) => {
    const p = `WALFLOW_STORE_${name.toUpperCase().replace(/-/g, '_')}_`;
    const type = required(p, 'TYPE', env);
    if (type === 'fs') return new FsStore(name, required(p, 'PATH', env));
    if (type !== 's3') throw new UserError(`${p}TYPE="${type}": use s3 or fs`);
    const bool = (v: string | undefined, dflt: boolean) => (v === undefined ? dflt : ['true', '1', 'yes'].includes(v));
    const cfg = {
      name,
      endpoint: setting(p, 'ENDPOINT', env),
      region: setting(p, 'REGION', env) ?? 'auto',
      bucket: required(p, 'BUCKET', env),
      prefix: setting(p, 'PREFIX', env) ?? '',
      accessKeyId: required(p, 'ACCESS_KEY_ID', env),
      secretAccessKey: required(p, 'SECRET_ACCESS_KEY', env),
      forcePathStyle: bool(setting(p, 'FORCE_PATH_STYLE', env), false),
      conditionalPut: bool(setting(p, 'CONDITIONAL_PUT', env), true),
      // fetch gives up on a store sooner than the worker does: another store may answer.
      requestTimeoutMs: 20_000,
    };
    return lazyStore(name, s3Location(cfg.bucket, cfg.prefix), async () => new (await import('./s3')).S3Store(cfg));
  });
}

/** A Store whose driver is created (and its module loaded) on the first call. */
function lazyStore(name: string, location: string, open: () => Promise<Store>): Store {
  let store: Promise<Store> | undefined;
  const s = () => (store ??= open());
  return {
    name,
    location,
    head: async (k, sig) => (await s()).head(k, sig),
    get: async (k, sig) => (await s()).get(k, sig),
    getStream: async (k, sig) => (await s()).getStream(k, sig),
    putNew: async (k, b, m, sig) => (await s()).putNew(k, b, m, sig),
    list: async function* (p, sig) {
      yield* (await s()).list(p, sig);
    },
    delete: async (k, sig) => (await s()).delete(k, sig),
  };
}
