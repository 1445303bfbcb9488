// The worker's Prometheus endpoint (WALFLOW_METRICS_ADDRESS, path /metrics): walflow's metrics,
// read from the spool and the catalog at each scrape, followed by the Temporal SDK's own, which
// the SDK exports on a loopback port of its own that this endpoint relays.
import * as fs from 'node:fs';
import * as http from 'node:http';
import { Gauge } from 'prom-client';
import type { Catalog } from '../db/client';
import { newestCompleteBackup, newestRun, newestSegmentPerStore, openAlertsByKind, owedPerStore } from '../db/reports';
import type { Config } from '../lib/config';
import { UserError } from '../lib/errors';
import type { Logger } from '../lib/log';
import { registry } from '../lib/metrics';
import { SpoolPaths } from '../lib/spool';
import { spoolStat } from '../lib/spoolstat';

const seconds = (ms: number) => ms / 1000;

/** Gauges read from each served cluster's spool; returns what refreshes them before a scrape. */
function spoolGauges(configs: Config[]): () => void {
  const files = new Gauge({
    name: 'walflow_spool_files',
    labelNames: ['cluster'],
    help: "WAL files waiting in this host's spool",
    registers: [registry],
  });
  const bytes = new Gauge({
    name: 'walflow_spool_bytes',
    labelNames: ['cluster'],
    help: "Bytes of WAL waiting in this host's spool",
    registers: [registry],
  });
  const oldest = new Gauge({
    name: 'walflow_spool_oldest_age_seconds',
    labelNames: ['cluster'],
    help: "Age of the oldest file in this host's spool (0 when empty)",
    registers: [registry],
  });
  return () => {
    for (const config of configs) {
      const spool = new SpoolPaths(config.spoolDir, config.cluster);
      const st = spoolStat(config.spoolDir, config.cluster);
      let total = 0;
      for (const n of st.names) {
        try {
          total += fs.statSync(spool.wal(n)).size;
        } catch {
          /* archived meanwhile */
        }
      }
      const labels = { cluster: config.cluster };
      files.set(labels, st.waiting);
      bytes.set(labels, total);
      oldest.set(labels, seconds(st.oldestAgeMs));
    }
  };
}

/** Gauges read from the catalog, one round of queries per served cluster; returns what refreshes them. */
function catalogGauges(configs: Config[], catalogOf: (url: string) => Catalog, log: Logger): () => Promise<void> {
  const newestAge = new Gauge({
    name: 'walflow_store_newest_segment_age_seconds',
    help: 'Since each store confirmed its newest WAL segment',
    labelNames: ['cluster', 'store'],
    registers: [registry],
  });
  const newest = new Gauge({
    name: 'walflow_store_newest_segment',
    help: "Each store's newest archived WAL segment, as a label (value 1)",
    labelNames: ['cluster', 'store', 'segment'],
    registers: [registry],
  });
  // Labelled by backup id, so that before the first backup there is no series rather than a 0.
  const backupAge = new Gauge({
    name: 'walflow_backup_last_age_seconds',
    help: 'Since the newest complete base backup finished',
    labelNames: ['cluster', 'backup_id'],
    registers: [registry],
  });
  const backupSize = new Gauge({
    name: 'walflow_backup_last_stored_bytes',
    help: 'Stored size of the newest complete base backup in one store',
    labelNames: ['cluster', 'backup_id'],
    registers: [registry],
  });
  const storeBytes = new Gauge({
    name: 'walflow_store_wal_bytes',
    help: 'Bytes of WAL segment copies each store holds, by the catalog',
    labelNames: ['cluster', 'store'],
    registers: [registry],
  });
  const owed = new Gauge({
    name: 'walflow_store_owed_copies',
    help: 'WAL copies each store is owed: files that left a full spool before it took them',
    labelNames: ['cluster', 'store'],
    registers: [registry],
  });
  const drillOk = new Gauge({
    name: 'walflow_drill_last_ok',
    help: '1 when the newest restore drill passed, 0 when it failed',
    labelNames: ['cluster', 'workflow_id'],
    registers: [registry],
  });
  const drillAge = new Gauge({
    name: 'walflow_drill_last_age_seconds',
    help: 'Since the newest restore drill finished',
    labelNames: ['cluster', 'workflow_id'],
    registers: [registry],
  });
  const drillRecover = new Gauge({
    name: 'walflow_drill_last_recover_seconds',
    help: 'Time to recover in the newest restore drill that recovered',
    labelNames: ['cluster', 'workflow_id'],
    registers: [registry],
  });
  const alertsOpen = new Gauge({
    name: 'walflow_alerts_open',
    help: 'Open alerts by kind',
    labelNames: ['cluster', 'kind'],
    registers: [registry],
  });
  const up = new Gauge({
    name: 'walflow_catalog_up',
    help: '1 when the catalog answered this scrape',
    labelNames: ['cluster'],
    registers: [registry],
  });
  return async () => {
    for (const g of [
      newestAge,
      newest,
      storeBytes,
      owed,
      backupAge,
      backupSize,
      drillOk,
      drillAge,
      drillRecover,
      alertsOpen,
    ])
      g.reset();
    for (const config of configs) await refreshCluster(config);
  };

  async function refreshCluster(config: Config): Promise<void> {
    const { cluster } = config;
    try {
      const db = catalogOf(config.catalogUrl);
      for (const s of await newestSegmentPerStore(db, cluster)) {
        newestAge.set({ cluster, store: s.store }, seconds(Date.now() - s.confirmedAt.getTime()));
        newest.set({ cluster, store: s.store, segment: s.name }, 1);
        storeBytes.set({ cluster, store: s.store }, s.bytes);
      }
      const owing = await owedPerStore(db, cluster);
      for (const st of config.stores)
        owed.set({ cluster, store: st.name }, owing.find((o) => o.store === st.name)?.copies ?? 0);
      const drill = await newestRun(db, cluster, 'drill');
      if (drill) {
        const labels = { cluster, workflow_id: drill.workflowId };
        drillOk.set(labels, drill.outcome === 'ok' ? 1 : 0);
        drillAge.set(labels, seconds(Date.now() - drill.finishedAt.getTime()));
        const recover = (drill.summary as { secondsToRecover?: number }).secondsToRecover;
        if (recover !== undefined) drillRecover.set(labels, recover);
      }
      const b = await newestCompleteBackup(db, cluster);
      if (b) {
        backupAge.set({ cluster, backup_id: b.backupId }, seconds(Date.now() - b.completedAt.getTime()));
        backupSize.set({ cluster, backup_id: b.backupId }, b.storedSize ?? 0);
      }
      for (const a of await openAlertsByKind(db, cluster)) alertsOpen.set({ cluster, kind: a.kind }, a.open);
      up.set({ cluster }, 1);
    } catch (e) {
      up.set({ cluster }, 0);
      log.warn({ cluster, err: (e as Error).message }, 'metrics: catalog unreadable');
    }
  }
}

async function sdkMetrics(address: string): Promise<string> {
  try {
    const r = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(5_000) });
    return r.ok ? await r.text() : `# Temporal SDK metrics unavailable: HTTP ${r.status}\n`;
  } catch (e) {
    return `# Temporal SDK metrics unavailable: ${(e as Error).message}\n`;
  }
}

/** Serves /metrics at `address` until the process ends; `sdkAddress` is where the SDK exports its own. */
export async function serveMetrics(
  configs: Config[],
  address: string,
  sdkAddress: string,
  catalogOf: (url: string) => Catalog,
  log: Logger,
): Promise<http.Server> {
  // One worker process runs on one host; each series names the cluster it is about.
  registry.setDefaultLabels({ host: configs[0].hostId });
  const refreshSpool = spoolGauges(configs);
  const refreshCatalog = catalogGauges(configs, catalogOf, log);
  const scrape = async () => {
    refreshSpool();
    await refreshCatalog();
    return Promise.all([registry.metrics(), sdkMetrics(sdkAddress)]);
  };
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('walflow serves /metrics\n');
      return;
    }
    void scrape().then(
      ([own, sdk]) => {
        res.writeHead(200, { 'Content-Type': registry.contentType }).end(`${own}\n${sdk}`);
      },
      (e: Error) => {
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${e.message}\n`);
      },
    );
  });
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at) || '0.0.0.0';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new UserError(`cannot serve metrics at ${address} (${e.code ?? e.message}); fix WALFLOW_METRICS_ADDRESS`)),
    );
    server.listen(Number(address.slice(at + 1)), host, () => resolve());
  });
  server.unref();
  log.info({ address, sdk: sdkAddress }, 'metrics served at /metrics');
  return server;
}
