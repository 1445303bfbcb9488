// The worker's Prometheus endpoint, scraped as Prometheus would: walflow's metrics (spool, newest
// segment and bytes per store, archive latency, last backup, last drill, open alerts) and the
// Temporal SDK's own.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { PgCluster } from '../lib/devstack/pgcluster';
import { freePort } from '../lib/devstack/procs';
import { catalogQuery } from './support/catalog';
import type { TestEnv } from './support/env';
import { pitrEnv, takeBackup, waitArchived } from './support/pitr';

let env: TestEnv;
let pg: PgCluster;
let address: string;

before(async () => {
  address = `127.0.0.1:${await freePort()}`;
  ({ env, pg } = await pitrEnv('metrics', { WALFLOW_METRICS_ADDRESS: address }));
});

after(async () => {
  await pg?.stop('immediate');
  await env?.close();
});

async function scrape(): Promise<string> {
  const r = await fetch(`http://${address}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
  return r.text();
}

/** The value of one series, by metric name and (a subset of) its labels. */
function value(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

test(
  "a scrape shows archiving, the newest segment per store, the last backup and drill, alerts and the SDK's metrics",
  { timeout: 240_000 },
  async () => {
    const idle = await scrape();
    assert.equal(value(idle, 'walflow_catalog_up', { cluster: 'metrics', host: 'metrics' }), 1);
    assert.equal(value(idle, 'walflow_backup_last_age_seconds'), undefined, 'no backup yet, no series');

    await pg.query('CREATE TABLE t AS SELECT generate_series(1, 10000) AS id');
    const segment = await pg.switchWal();
    await waitArchived(env, segment);
    await takeBackup(env);
    const drill = env.walflow(['drill', '--json']);
    assert.equal(drill.status, 0, drill.stderr);
    const drilled = JSON.parse(drill.stdout) as { secondsToRecover: number };
    await catalogQuery(
      env.config.catalogUrl,
      "INSERT INTO alerts (cluster, key, kind, severity, message) VALUES ('metrics', 'archive-gap:test', 'archive-gap', 'error', 'made by the metrics test')",
    );

    const status = env.walflow(['status', '--json']);
    assert.equal(status.status, 0, status.stderr);
    const newest = (JSON.parse(status.stdout) as { stores: Record<string, { newestSegment: string }> }).stores;
    assert.ok(newest.b2.newestSegment >= segment, `${newest.b2.newestSegment} is at or after ${segment}`);
    const text = await scrape();
    for (const store of ['r2', 'b2']) {
      assert.equal(
        value(text, 'walflow_store_newest_segment', { store, segment: newest[store].newestSegment }),
        1,
        `${store}: the segment status names`,
      );
    }
    for (const store of ['r2', 'b2']) {
      const age = value(text, 'walflow_store_newest_segment_age_seconds', { store });
      assert.ok(age !== undefined && age >= 0 && age < 600, `${store} newest age ${age}`);
    }
    const archived = value(text, 'walflow_archive_latency_seconds_count');
    assert.ok(archived !== undefined && archived >= 1, `archive latency observations: ${archived}`);
    assert.ok(value(text, 'walflow_archive_latency_seconds_bucket', { le: '+Inf' })! >= archived);
    assert.ok((value(text, 'walflow_backup_last_stored_bytes') ?? 0) > 0, "the backup's size");
    assert.ok((value(text, 'walflow_backup_last_age_seconds') ?? -1) >= 0, "the backup's age");
    assert.equal(value(text, 'walflow_alerts_open', { kind: 'archive-gap' }), 1);
    assert.equal(value(text, 'walflow_drill_last_ok'), 1);
    assert.equal(value(text, 'walflow_drill_last_recover_seconds'), drilled.secondsToRecover);
    assert.ok((value(text, 'walflow_drill_last_age_seconds') ?? -1) >= 0);
    for (const store of ['r2', 'b2'])
      assert.ok((value(text, 'walflow_store_wal_bytes', { store }) ?? 0) > 0, `${store} bytes`);
    assert.ok(value(text, 'walflow_spool_files') !== undefined, 'spool files');
    assert.ok(value(text, 'walflow_spool_bytes') !== undefined, 'spool bytes');
    assert.ok(value(text, 'walflow_spool_oldest_age_seconds') !== undefined, 'spool age');
    assert.match(text, /^# TYPE walflow_archive_latency_seconds histogram$/m);
    assert.match(text, /^temporal_\w+/m, "the Temporal SDK's own metrics, relayed");

    const other = await fetch(`http://${address}/other`);
    assert.equal(other.status, 404);
  },
);
