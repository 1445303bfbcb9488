// One worker process per host, serving one or several clusters (lib/clusterconfigs.ts). Per
// cluster: a Worker on the cluster's queue (workflows, store and catalog work, with that
// cluster's stores and settings) and one on the cluster's queue for this host (spool and
// data-directory work), plus the spool watcher and this host's archive-sweep Schedule (the
// cluster-wide ones belong to `walflow schedules apply`). Stops gracefully on SIGTERM/SIGINT.
// Survives Temporal restarts by reconnecting.
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { activitiesFor, createActivities } from '../activities';
import { Catalog, migrateCatalog, openCatalog } from '../db/client';
import type { Config } from '../lib/config';
import { createLogger, Logger } from '../lib/log';
import { policyDifferences } from '../lib/policy';
import { freePort } from '../lib/ports';
import type { ClusterPolicy } from '../lib/clusterpolicy';
import { openStores } from '../lib/stores/registry';
import { temporalConnectionOptions } from '../lib/temporal';
import { clusterQueue, hostQueue, legacyQueues } from '../lib/contracts';
import { registerSearchAttributes } from '../lib/searchattributes';
import { loadWorkflowBundle } from './bundle';
import { installRuntime } from './runtime';
import { appliedPolicy, ensureHostSweep } from './schedules';
import { serveMetrics } from './metrics';
import { SpoolPressure } from './spoolpressure';
import { SpoolWatcher } from './watcher';

const RECONNECT_MS = 3_000;
/**
 * How stale the heartbeat details on the server may be: a restore's resume point and the
 * progress the CLI and Web UI show. The SDK's default, 80% of the heartbeat timeout, would
 * redo up to 48 s of download after a crash.
 */
const HEARTBEAT_THROTTLE_MS = 2_000;

async function retry<T>(
  what: string,
  log: Logger,
  stopping: () => boolean,
  fn: () => Promise<T>,
): Promise<T | undefined> {
  for (let attempt = 1; !stopping(); attempt++) {
    try {
      return await fn();
    } catch (e) {
      log.warn({ attempt, err: (e as Error).message }, `${what} failed; retrying in ${RECONNECT_MS / 1000}s`);
      await new Promise((r) => setTimeout(r, RECONNECT_MS));
    }
  }
  return undefined;
}

/** Says how this worker's own settings relate to the cluster's policy; they never decide a run. */
function reportPolicy(log: Logger, config: Config, cluster: ClusterPolicy | undefined): void {
  if (!cluster) {
    log.warn(
      `no Schedules applied for cluster ${config.cluster}: run 'walflow schedules apply' (until then nothing schedules ` +
        'backups, retention, verify, drills or the checks that raise alerts)',
    );
    return;
  }
  const differences = policyDifferences(config.policy, cluster);
  if (!differences.length) return;
  log.warn(
    { differences },
    `settings here differ from the cluster's policy, which applies (change it with 'walflow schedules apply'): ` +
      differences.map((d) => `${d.setting} here ${d.here}, cluster ${d.cluster}`).join('; '),
  );
}

/** One cluster this process serves: its settings, activities, log and spool watcher. */
interface Served {
  config: Config;
  log: Logger;
  activities: ReturnType<typeof createActivities>;
  watcher: SpoolWatcher;
  /** Asks archived files to leave a spool near its limit (WALFLOW_SPOOL_MAX). */
  pressure: SpoolPressure;
  policyReported: boolean;
}

export async function runWorker(configs: Config[]): Promise<void> {
  const [first] = configs;
  const log = createLogger(first.logLevel, { host: first.hostId });
  let stopping = false;
  let current: Worker[] = [];
  const stop = () => {
    if (stopping) return;
    stopping = true;
    log.info('stopping: finishing running activities');
    for (const w of current) if (w.getState() === 'RUNNING') w.shutdown();
  };
  // The SDK exports its metrics on a loopback port of its own; /metrics relays them.
  const sdkMetrics = first.metricsAddress ? `127.0.0.1:${await freePort()}` : undefined;
  installRuntime(log, sdkMetrics);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  // Clusters may share a catalog database: one pool per database.
  const catalogs = new Map<string, Catalog>();
  const catalogOf = (url: string) => () => {
    let c = catalogs.get(url);
    if (!c) catalogs.set(url, (c = openCatalog(url)));
    return c;
  };
  for (const url of new Set(configs.map((c) => c.catalogUrl)))
    await retry(
      'catalog migration',
      log,
      () => stopping,
      () => migrateCatalog(catalogOf(url)()),
    );
  if (first.metricsAddress && sdkMetrics)
    await serveMetrics(configs, first.metricsAddress, sdkMetrics, (url) => catalogOf(url)(), log);

  let client: Client | undefined;
  const served: Served[] = configs.map((config) => {
    const clusterLog = log.child({ cluster: config.cluster });
    const watcher = new SpoolWatcher(() => client, config, clusterLog);
    const activities = createActivities({
      config,
      stores: openStores(config.stores),
      catalog: catalogOf(config.catalogUrl),
      log: clusterLog,
      inBatch: (name) => watcher.inBatch(name),
      uploads: watcher.uploads,
    });
    return {
      config,
      log: clusterLog,
      activities,
      watcher,
      pressure: new SpoolPressure(
        () => client,
        config,
        clusterLog,
        activities,
        (name) => watcher.workflowIdOf(name),
      ),
      policyReported: false,
    };
  });
  // Loaded once for every queue and every reconnect.
  const workflowBundle = await loadWorkflowBundle(log);
  for (const s of served) {
    s.watcher.start();
    s.pressure.start();
  }

  while (!stopping) {
    const connection = await retry(
      'Temporal connection',
      log,
      () => stopping,
      () => NativeConnection.connect(temporalConnectionOptions(first)),
    );
    if (!connection) break;
    let clientConnection: Connection | undefined;
    try {
      clientConnection = await Connection.connect(temporalConnectionOptions(first));
      client = new Client({ connection: clientConnection, namespace: first.temporalNamespace });
      await registerSearchAttributes(client).then(
        (added) => added.length && log.info({ added }, 'search attributes registered'),
        (e: Error) =>
          log.warn(
            { err: e.message },
            "cannot register walflow's search attributes (workflow starts fail until they are): run 'walflow search-attributes register' with a user allowed to",
          ),
      );
      const common = {
        connection,
        namespace: first.temporalNamespace,
        workflowBundle,
        maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE_MS,
      };
      const queues: string[] = [];
      for (const s of served) {
        const { config } = s;
        const policy = await appliedPolicy(client, config.cluster);
        if (!s.policyReported) reportPolicy(s.log, config, policy);
        s.policyReported = true;
        s.log.info({ schedule: await ensureHostSweep(client, config, policy) }, 'archive-sweep schedule ensured');
        const clusterQ = clusterQueue(config.cluster);
        // Workflows on both: archiveSegment runs where its spool is.
        const hostQ = hostQueue(config.cluster, config.hostId);
        current.push(
          await Worker.create({ ...common, taskQueue: clusterQ, activities: activitiesFor('cluster', s.activities) }),
          await Worker.create({ ...common, taskQueue: hostQ, activities: activitiesFor('host', s.activities) }),
        );
        queues.push(clusterQ, hostQ);
      }
      // One cluster served: as before the upgrade, when every worker polled these with its own settings.
      if (served.length === 1) {
        const [s] = served;
        const legacy = legacyQueues(s.config.hostId);
        current.push(
          await Worker.create({
            ...common,
            taskQueue: legacy.shared,
            activities: activitiesFor('cluster', s.activities),
          }),
          await Worker.create({ ...common, taskQueue: legacy.host, activities: activitiesFor('host', s.activities) }),
        );
        queues.push(legacy.shared, legacy.host);
      }
      log.info({ queues, address: first.temporalAddress }, 'worker running');
      for (const s of served) s.watcher.rescanNow();
      if (stopping) for (const w of current) w.shutdown();
      await Promise.all(current.map((w) => w.run()));
    } catch (e) {
      log.error({ err: (e as Error).message }, 'worker stopped with an error; reconnecting');
      for (const w of current) if (w.getState() === 'RUNNING') w.shutdown();
      await new Promise((r) => setTimeout(r, RECONNECT_MS));
    } finally {
      client = undefined;
      current = [];
      await clientConnection?.close().catch(() => undefined);
      await connection.close().catch(() => undefined);
    }
  }
  for (const s of served) {
    s.watcher.stop();
    s.pressure.stop();
  }
  for (const c of catalogs.values()) await c.$client.end();
  log.info('stopped');
}
