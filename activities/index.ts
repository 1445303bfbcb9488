// All activities, closed over their dependencies. Workflows import this module as a type only.
import { ApplicationFailure } from '@temporalio/activity';
import type { Catalog } from '../db/client';
import type { Config } from '../lib/config';
import { UserError } from '../lib/errors';
import type { Logger } from '../lib/log';
import type { Store } from '../lib/stores/store';
import { alertActivities } from './alerts';
import { basebackupActivities } from './basebackup';
import { catalogActivities } from './catalog';
import { owedActivities } from './owed';
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
  return failFastOnUserErrors({
    ...spoolActivities(deps.config),
    ...basebackupActivities(deps.config, deps.stores, deps.catalog, deps.log),
    ...restoreActivities(deps.config, deps.stores, deps.catalog, deps.log),
    ...uploadActivities(deps.config, deps.stores),
    ...catalogActivities(deps.catalog, deps.log),
    ...alertActivities(deps.config, deps.catalog, deps.log),
    ...verifyActivities(deps.stores, deps.catalog, deps.log),
    ...owedActivities(deps.stores, deps.catalog, deps.log),
    ...retentionActivities(deps.stores, deps.catalog, deps.log),
    ...drillActivities(deps.config),
    ...recoverableActivities(deps.catalog),
  });
}

/** A UserError names what a human must change first (install, upgrade, configure): retries cannot help. */
function failFastOnUserErrors<T extends Record<string, (...args: any[]) => Promise<unknown>>>(activities: T): T {
  const wrapped = Object.entries(activities).map(([name, run]) => [
    name,
    async (...args: unknown[]) => {
      try {
        return await run(...args);
      } catch (e) {
        if (e instanceof UserError) throw ApplicationFailure.nonRetryable(e.message, e.name);
        throw e;
      }
    },
  ]);
  return Object.fromEntries(wrapped) as T;
}
