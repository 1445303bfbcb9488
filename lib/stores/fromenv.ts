// Stores straight from the environment for `walflow fetch`, which runs once per segment during
// recovery, most calls answered from the prefetch folder: the settings are read with the one
// schema (./settings, no zod), and an S3 store loads the AWS SDK only when first used.
import type { Store } from './store';
import { parseStoreSettings } from './settings';

/** fetch gives up on a store sooner than the worker does (another store may answer), unless the store's REQUEST_TIMEOUT says otherwise. */
const FETCH_REQUEST_TIMEOUT_MS = 20_000;

/** Opens each configured store, in WALFLOW_STORES order. */
export function storesFromEnv(env: NodeJS.ProcessEnv = process.env): Store[] {
  return parseStoreSettings(env, { requestTimeoutMs: FETCH_REQUEST_TIMEOUT_MS }).map(({ store: cfg }) => {
    if (cfg.type === 'fs') {
      const { FsStore } = require('./fs') as typeof import('./fs');
      return new FsStore(cfg.name, cfg.path);
    }
    return lazyStore(cfg.name, () => {
      const { S3Store } = require('./s3') as typeof import('./s3');
      return new S3Store(cfg);
    });
  });
}

/** A Store whose driver is created (and its module loaded) on the first call. */
function lazyStore(name: string, open: () => Store): Store {
  let store: Store | undefined;
  const s = () => (store ??= open());
  return {
    name,
    get location() {
      return s().location;
    },
    head: (k, sig) => s().head(k, sig),
    get: (k, sig) => s().get(k, sig),
    getStream: (k, sig) => s().getStream(k, sig),
    putNew: (k, b, m, sig) => s().putNew(k, b, m, sig),
    list: (p, sig) => s().list(p, sig),
    delete: (k, sig) => s().delete(k, sig),
  };
}
