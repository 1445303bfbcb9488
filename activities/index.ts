// All activities, closed over their dependencies. Workflows import this module as a type only.
import type { Catalog } from '../db/client';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/log';
import type { Store } from '../lib/stores/store';
import { alertActivities } from './alerts';
import { basebackupActivities } from './basebackup';
import { catalogActivities } from './catalog';
import { restoreActivities } from './restore';
import { recoverableActivities } from './recoverable';
import { spoolActivities } from './spool';
import { uploadActivities } from './upload';
import { drillActivities } from './drill';
import { retentionActivities } from './retention';
import { verifyActivities } from './verify';

export interface ActivityDeps {
  config: Config;
  stores: Map<string, Store>;
  catalog: () => Catalog;
  log: Logger;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...spoolActivities(deps.config),
    ...basebackupActivities(deps.config, deps.stores, deps.catalog, deps.log),
    ...restoreActivities(deps.config, deps.stores, deps.catalog, deps.log),
    ...uploadActivities(deps.config, deps.stores),
    ...catalogActivities(deps.catalog, deps.log),
    ...alertActivities(deps.config, deps.catalog, deps.log),
    ...verifyActivities(deps.stores, deps.catalog, deps.log),
    ...retentionActivities(deps.config, deps.stores, deps.catalog, deps.log),
    ...drillActivities(deps.config),
    ...recoverableActivities(deps.catalog),
  };
}
