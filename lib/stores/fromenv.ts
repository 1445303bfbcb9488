// Stores straight from the environment for `walflow fetch`, which runs once per segment during
// recovery, most calls answered from the prefetch folder: the settings are read with the one
// schema (./settings, no zod), and an S3 store loads the AWS SDK only when first used.
import { FsStore } from './fs';
import { parseStoreSettings } from './settings';
import { s3Location, type Store } from './store';

/** fetch gives up on a store sooner than the worker does (another store may answer), unless the store's REQUEST_TIMEOUT says otherwise. */
const FETCH_REQUEST_TIMEOUT_MS = 20_000;

/** Opens each configured store, in WALFLOW_STORES order. */
export function storesFromEnv(env: NodeJS.ProcessEnv = process.env): Store[] {
  return parseStoreSettings(env, { requestTimeoutMs: FETCH_REQUEST_TIMEOUT_MS }).map(({ store: cfg }) => {
    if (cfg.type === 'fs') return new FsStore(cfg.name, cfg.path);
    return lazyStore(cfg.name, s3Location(cfg.bucket, cfg.prefix), async () => new (await import('./s3')).S3Store(cfg));
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
    read: async (k, sig) => (await s()).read(k, sig),
    getStream: async (k, sig) => (await s()).getStream(k, sig),
    putNew: async (k, b, m, sig) => (await s()).putNew(k, b, m, sig),
    list: async function* (p, sig) {
      yield* (await s()).list(p, sig);
    },
    delete: async (k, sig) => (await s()).delete(k, sig),
  };
}
