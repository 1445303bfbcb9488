// One worker process per host: a Worker on the shared `walflow` queue (workflows, store and
// catalog work) and one on `walflow-host-<id>` (spool and data-directory work), plus the spool
// watcher and this host's archive-sweep Schedule (the cluster-wide ones belong to
// `walflow schedules apply`). Stops gracefully on SIGTERM/SIGINT. Survives Temporal restarts by reconnecting.
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { Catalog, migrateCatalog, openCatalog } from '../db/client';
import type { Config } from '../lib/config';
import { createLogger, Logger } from '../lib/log';
import { policyDifferences } from '../lib/policy';
import { freePort } from '../lib/ports';
import type { ClusterPolicy } from '../lib/clusterpolicy';
import { openStores } from '../lib/stores/registry';
import { hostQueue, SHARED_QUEUE } from '../lib/contracts';
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

/** webpack's report of the workflow bundle is noise in the worker log; warnings still show. */
const quietBundler = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => process.stderr.write(`workflow bundle: ${message}\n`),
  error: (message: string) => process.stderr.write(`workflow bundle: ${message}\n`),
};

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
        "backups, retention, verify or drills, and sweeps alert by walflow's defaults)",
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

export async function runWorker(config: Config): Promise<void> {
  const log = createLogger(config.logLevel, { cluster: config.cluster, host: config.hostId });
  let stopping = false;
  let current: Worker[] = [];
  const stop = () => {
    if (stopping) return;
    stopping = true;
    log.info('stopping: finishing running activities');
    for (const w of current) if (w.getState() === 'RUNNING') w.shutdown();
  };
  // The SDK exports its metrics on a loopback port of its own; /metrics relays them.
  const sdkMetrics = config.metricsAddress ? `127.0.0.1:${await freePort()}` : undefined;
  Runtime.install({
    shutdownSignals: [], // we handle signals ourselves, across reconnects
    ...(sdkMetrics ? { telemetryOptions: { metrics: { prometheus: { bindAddress: sdkMetrics } } } } : {}),
  });
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  let catalog: Catalog | undefined;
  const getCatalog = () => (catalog ??= openCatalog(config.catalogUrl));
  await retry(
    'catalog migration',
    log,
    () => stopping,
    () => migrateCatalog(getCatalog()),
  );
  if (config.metricsAddress && sdkMetrics)
    await serveMetrics(config, config.metricsAddress, sdkMetrics, getCatalog, log);

  const activities = createActivities({ config, stores: openStores(config.stores), catalog: getCatalog, log });
  // Bundled once for both queues and every reconnect.
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: quietBundler,
  });
  let client: Client | undefined;
  let policyReported = false;
  const watcher = new SpoolWatcher(() => client, config, log);
  watcher.start();
  const pressure = new SpoolPressure(() => client, config, log, activities);
  pressure.start();

  while (!stopping) {
    const connection = await retry(
      'Temporal connection',
      log,
      () => stopping,
      () => NativeConnection.connect({ address: config.temporalAddress }),
    );
    if (!connection) break;
    let clientConnection: Connection | undefined;
    try {
      clientConnection = await Connection.connect({ address: config.temporalAddress });
      client = new Client({ connection: clientConnection, namespace: config.temporalNamespace });
      const policy = await appliedPolicy(client, config.cluster);
      if (!policyReported) reportPolicy(log, config, policy);
      policyReported = true;
      log.info({ schedule: await ensureHostSweep(client, config, policy) }, 'archive-sweep schedule ensured');
      const common = {
        connection,
        namespace: config.temporalNamespace,
        activities,
        workflowBundle,
        maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE_MS,
      };
      current = [
        await Worker.create({ ...common, taskQueue: SHARED_QUEUE }),
        // Workflows too: archiveSegment runs where its spool is.
        await Worker.create({ ...common, taskQueue: hostQueue(config.hostId) }),
      ];
      log.info({ queues: [SHARED_QUEUE, hostQueue(config.hostId)], address: config.temporalAddress }, 'worker running');
      watcher.rescanNow();
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
  watcher.stop();
  pressure.stop();
  await catalog?.$client.end();
  log.info('stopped');
}
