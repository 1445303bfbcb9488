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

/** Gauges read from the spool; returns what refreshes them before a scrape. */
function spoolGauges(config: Config): () => void {
  const files = new Gauge({
    name: 'walflow_spool_files',
    help: "WAL files waiting in this host's spool",
    registers: [registry],
  });
  const bytes = new Gauge({
    name: 'walflow_spool_bytes',
    help: "Bytes of WAL waiting in this host's spool",
    registers: [registry],
  });
  const oldest = new Gauge({
    name: 'walflow_spool_oldest_age_seconds',
    help: "Age of the oldest file in this host's spool (0 when empty)",
    registers: [registry],
  });
  const spool = new SpoolPaths(config.spoolDir, config.cluster);
  return () => {
    const st = spoolStat(config.spoolDir, config.cluster);
    let total = 0;
    for (const n of st.names) {
      try {
        total += fs.statSync(spool.wal(n)).size;
      } catch {
        /* archived meanwhile */
      }
    }
    files.set(st.waiting);
    bytes.set(total);
    oldest.set(seconds(st.oldestAgeMs));
  };
}

/** Gauges read from the catalog, all from one round of queries; returns what refreshes them. */
function catalogGauges(config: Config, catalog: () => Catalog, log: Logger): () => Promise<void> {
  const newestAge = new Gauge({
    name: 'walflow_store_newest_segment_age_seconds',
    help: 'Since each store confirmed its newest WAL segment',
    labelNames: ['store'],
    registers: [registry],
  });
  const newest = new Gauge({
    name: 'walflow_store_newest_segment',
    help: "Each store's newest archived WAL segment, as a label (value 1)",
    labelNames: ['store', 'segment'],
    registers: [registry],
  });
  // Labelled by backup id, so that before the first backup there is no series rather than a 0.
  const backupAge = new Gauge({
    name: 'walflow_backup_last_age_seconds',
    help: 'Since the newest complete base backup finished',
    labelNames: ['backup_id'],
    registers: [registry],
  });
  const backupSize = new Gauge({
    name: 'walflow_backup_last_stored_bytes',
    help: 'Stored size of the newest complete base backup in one store',
    labelNames: ['backup_id'],
    registers: [registry],
  });
  const storeBytes = new Gauge({
    name: 'walflow_store_wal_bytes',
    help: 'Bytes of WAL segment copies each store holds, by the catalog',
    labelNames: ['store'],
    registers: [registry],
  });
  const owed = new Gauge({
    name: 'walflow_store_owed_copies',
    help: 'WAL copies each store is owed: files that left a full spool before it took them',
    labelNames: ['store'],
    registers: [registry],
  });
  const drillOk = new Gauge({
    name: 'walflow_drill_last_ok',
    help: '1 when the newest restore drill passed, 0 when it failed',
    labelNames: ['workflow_id'],
    registers: [registry],
  });
  const drillAge = new Gauge({
    name: 'walflow_drill_last_age_seconds',
    help: 'Since the newest restore drill finished',
    labelNames: ['workflow_id'],
    registers: [registry],
  });
  const drillRecover = new Gauge({
    name: 'walflow_drill_last_recover_seconds',
    help: 'Time to recover in the newest restore drill that recovered',
    labelNames: ['workflow_id'],
    registers: [registry],
  });
  const alertsOpen = new Gauge({
    name: 'walflow_alerts_open',
    help: 'Open alerts by kind',
    labelNames: ['kind'],
    registers: [registry],
  });
  const up = new Gauge({
    name: 'walflow_catalog_up',
    help: '1 when the catalog answered this scrape',
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
    try {
      const db = catalog();
      for (const s of await newestSegmentPerStore(db, config.cluster)) {
        newestAge.set({ store: s.store }, seconds(Date.now() - s.confirmedAt.getTime()));
        newest.set({ store: s.store, segment: s.name }, 1);
        storeBytes.set({ store: s.store }, s.bytes);
      }
      const owing = await owedPerStore(db, config.cluster);
      for (const st of config.stores) owed.set({ store: st.name }, owing.find((o) => o.store === st.name)?.copies ?? 0);
      const drill = await newestRun(db, config.cluster, 'drill');
      if (drill) {
        const labels = { workflow_id: drill.workflowId };
        drillOk.set(labels, drill.outcome === 'ok' ? 1 : 0);
        drillAge.set(labels, seconds(Date.now() - drill.finishedAt.getTime()));
        const recover = (drill.summary as { secondsToRecover?: number }).secondsToRecover;
        if (recover !== undefined) drillRecover.set(labels, recover);
      }
      const b = await newestCompleteBackup(db, config.cluster);
      if (b) {
        backupAge.set({ backup_id: b.backupId }, seconds(Date.now() - b.completedAt.getTime()));
        backupSize.set({ backup_id: b.backupId }, b.storedSize ?? 0);
      }
      for (const a of await openAlertsByKind(db, config.cluster)) alertsOpen.set({ kind: a.kind }, a.open);
      up.set(1);
    } catch (e) {
      up.set(0);
      log.warn({ err: (e as Error).message }, 'metrics: catalog unreadable');
    }
  };
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
  config: Config,
  address: string,
  sdkAddress: string,
  catalog: () => Catalog,
  log: Logger,
): Promise<http.Server> {
  registry.setDefaultLabels({ cluster: config.cluster, host: config.hostId });
  const refreshSpool = spoolGauges(config);
  const refreshCatalog = catalogGauges(config, catalog, log);
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
