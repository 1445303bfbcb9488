// Store type -> driver. Each driver's settings are parsed in ./settings.ts.
import type { StoreConfig } from './settings';
import { FsStore } from './fs';
import { S3Store } from './s3';
import type { Store } from './store';

export function openStore(cfg: StoreConfig): Store {
  switch (cfg.type) {
    case 'fs':
      return new FsStore(cfg.name, cfg.path);
    case 's3':
      return new S3Store(cfg);
  }
}

export function openStores(cfgs: StoreConfig[]): Map<string, Store> {
  return new Map(cfgs.map((c) => [c.name, openStore(c)]));
}
