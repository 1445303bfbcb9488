// walflow's own Prometheus metrics that are observed where they happen (not read at scrape time).
import { Histogram, Registry } from 'prom-client';

/** Every walflow metric; the worker serves it at WALFLOW_METRICS_ADDRESS. */
export const registry = new Registry();

export const archiveLatency = new Histogram({
  name: 'walflow_archive_latency_seconds',
  help: 'From PostgreSQL handing a WAL file to walflow push until every store confirmed its copy',
  labelNames: ['cluster'],
  buckets: [0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600],
  registers: [registry],
});
