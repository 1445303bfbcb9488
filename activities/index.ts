// All activities of one cluster, closed over its dependencies, and which of them each task
// queue runs. Workflows import this module as a type only.
import { ApplicationFailure } from '@temporalio/activity';
import type { Catalog } from '../db/client';
import type { Config } from '../lib/config';
import { BAD_INPUT } from '../lib/contracts';
import { UserError } from '../lib/errors';
import { activityInputSchemas, parseInput } from '../lib/inputs';
import type { Logger } from '../lib/log';
import type { Store } from '../lib/stores/store';
import type { UploadProgress } from '../lib/uploadprogress';
import { alertActivities } from './alerts';
import { basebackupActivities } from './basebackup';
import { catalogActivities } from './catalog';
import { checkActivities } from './checks';
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
  /** Files a batch of this host's watcher holds (workers/watcher.ts). */
  inBatch?: (name: string) => boolean;
  /** What uploads did, for this host's watcher (workers/watcher.ts). */
  uploads?: UploadProgress;
}

export function createActivities(deps: ActivityDeps) {
  return atTheBoundary({
    ...spoolActivities(deps.config, deps.inBatch),
    ...basebackupActivities(deps.config, deps.stores, deps.catalog, deps.log),
    ...restoreActivities(deps.config, deps.stores, deps.catalog, deps.log),
    ...uploadActivities(deps.config, deps.stores, deps.uploads),
    ...catalogActivities(deps.catalog, deps.log),
    ...alertActivities(deps.config, deps.catalog, deps.log),
    ...checkActivities(deps.config, deps.catalog),
    ...verifyActivities(deps.stores, deps.config.encryption, deps.catalog, deps.log),
    ...owedActivities(deps.stores, deps.config.encryption, deps.catalog, deps.log),
    ...retentionActivities(deps.stores, deps.config.encryption, deps.catalog, deps.log),
    ...drillActivities(deps.config),
    ...recoverableActivities(deps.catalog),
  });
}

export type Activities = ReturnType<typeof createActivities>;

/** What only the host that holds the spool or the data directory can do: registered on its host queue only. */
const HOST_ONLY = [
  'listSpool',
  'stageSegment',
  'stageBatch',
  'removeSpoolCopy',
  'quarantineSpoolCopy',
  'uploadToStore',
  'uploadBatchToStore',
  'streamBaseBackup',
  'prepareDataDir',
  'downloadBackup',
  'combineBackups',
  'prefetchWal',
  'writeRecoverySettings',
  'startRestored',
  'cleanupPrefetch',
  'drillPrepare',
  'drillCheck',
  'drillCleanup',
  'drillCheckSpace',
  'forgetRestoreCredentials',
  'hostReport',
] as const satisfies (keyof Activities)[];
/** archiveSegment runs on the host queue and records its outcome with local activities there. */
const ALSO_ON_HOST = ['raiseAlert', 'resolveAlert', 'recordArchived'] as const satisfies (keyof Activities)[];

/** The activities a queue's worker registers: a task can reach only a worker able to run it. */
export function activitiesFor(queue: 'cluster' | 'host', all: Activities): Partial<Activities> {
  const hostNames = new Set<string>([...HOST_ONLY, ...ALSO_ON_HOST]);
  const hostOnly = new Set<string>(HOST_ONLY);
  return Object.fromEntries(
    Object.entries(all).filter(([name]) => (queue === 'host' ? hostNames.has(name) : !hostOnly.has(name))),
  );
}

/**
 * Each activity's input checked against its schema, where it has one: refused inputs, like a
 * UserError (what a human must change first: install, upgrade, configure), fail at once, since
 * retries cannot help.
 */
function atTheBoundary<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
  const wrapped = Object.entries(activities).map(([name, run]) => [
    name,
    async (...args: unknown[]) => {
      const schema = activityInputSchemas[name];
      if (schema) {
        const r = parseInput(schema, args[0], name);
        if (!r.ok) throw ApplicationFailure.nonRetryable(r.message, BAD_INPUT);
      }
      try {
        // The arguments pass through as Temporal decoded them, to the activity they were sent to.
        return await (run as (...a: unknown[]) => Promise<unknown>)(...args);
      } catch (e) {
        if (e instanceof UserError) throw ApplicationFailure.nonRetryable(e.message, e.name);
        throw e;
      }
    },
  ]);
  return Object.fromEntries(wrapped) as T;
}
