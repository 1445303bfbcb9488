// The catalog: a fast index over what the stores hold, plus the record of runs and alerts.
// The stores alone are enough to restore; this can be rebuilt from a listing.
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  index,
  integer,
  jsonb,
  pgTable,
  serial,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

export const walFiles = pgTable(
  'wal_files',
  {
    id: serial('id').primaryKey(),
    cluster: text('cluster').notNull(),
    timeline: integer('timeline').notNull(),
    name: text('name').notNull(),
    kind: text('kind').notNull(), // segment | partial | history | backup
    startLsn: bigint('start_lsn', { mode: 'bigint' }),
    rawSize: bigint('raw_size', { mode: 'number' }).notNull(),
    storedSize: bigint('stored_size', { mode: 'number' }).notNull(),
    codec: text('codec').notNull(),
    sha256: text('sha256').notNull(),
    key: text('key').notNull(),
    handedOverAt: timestamp('handed_over_at', { withTimezone: true }).notNull(),
    archivedAt: timestamp('archived_at', { withTimezone: true }),
    /** The segment's index (lib/wal/segmentindex.ts), as its objects' metadata carries it. */
    walIndex: jsonb('wal_index'),
  },
  (t) => [
    uniqueIndex('wal_files_cluster_name').on(t.cluster, t.name),
    index('wal_files_cluster_tli_lsn').on(t.cluster, t.timeline, t.startLsn),
  ],
);

export const walCopies = pgTable(
  'wal_copies',
  {
    id: serial('id').primaryKey(),
    cluster: text('cluster').notNull(),
    name: text('name').notNull(),
    store: text('store').notNull(),
    key: text('key').notNull(),
    storedSize: bigint('stored_size', { mode: 'number' }).notNull(),
    confirmedAt: timestamp('confirmed_at', { withTimezone: true }).notNull(),
    uploadMs: integer('upload_ms'),
  },
  (t) => [uniqueIndex('wal_copies_cluster_name_store').on(t.cluster, t.name, t.store)],
);

export const alerts = pgTable(
  'alerts',
  {
    id: serial('id').primaryKey(),
    cluster: text('cluster').notNull(),
    /** Dedup key: one open alert per (cluster, key) while the condition lasts. */
    key: text('key').notNull(),
    kind: text('kind').notNull(),
    severity: text('severity').notNull().default('error'),
    message: text('message').notNull(),
    details: jsonb('details'),
    raisedAt: timestamp('raised_at', { withTimezone: true }).notNull().defaultNow(),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull().defaultNow(),
    occurrences: integer('occurrences').notNull().default(1),
    resolvedAt: timestamp('resolved_at', { withTimezone: true }),
    /** When the webhook accepted the alert and its resolution; null = still to deliver. */
    notifiedAt: timestamp('notified_at', { withTimezone: true }),
    resolutionNotifiedAt: timestamp('resolution_notified_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('alerts_open_key')
      .on(t.cluster, t.key)
      .where(sql`resolved_at IS NULL`),
  ],
);

/** One row per verify, retention, drill or restore run: outcome and timings, for status and dashboards. */
export const runs = pgTable(
  'runs',
  {
    id: serial('id').primaryKey(),
    cluster: text('cluster').notNull(),
    kind: text('kind').notNull(), // verify | retention | drill | restore
    workflowId: text('workflow_id').notNull(),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull(),
    finishedAt: timestamp('finished_at', { withTimezone: true }).notNull().defaultNow(),
    outcome: text('outcome').notNull(), // ok | repaired | failed
    summary: jsonb('summary').notNull(),
  },
  (t) => [index('runs_cluster_kind_started').on(t.cluster, t.kind, t.startedAt)],
);

/** One row per base backup (the manifest's fields); complete once its WAL is in every store. */
export const backups = pgTable(
  'backups',
  {
    id: serial('id').primaryKey(),
    cluster: text('cluster').notNull(),
    backupId: text('backup_id').notNull(),
    hostId: text('host_id').notNull(),
    status: text('status').notNull(), // running | waiting-for-wal | complete | failed
    timeline: integer('timeline'),
    startLsn: bigint('start_lsn', { mode: 'bigint' }),
    stopLsn: bigint('stop_lsn', { mode: 'bigint' }),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull(),
    stoppedAt: timestamp('stopped_at', { withTimezone: true }),
    completedAt: timestamp('completed_at', { withTimezone: true }),
    rawSize: bigint('raw_size', { mode: 'number' }),
    storedSize: bigint('stored_size', { mode: 'number' }),
    pgVersion: integer('pg_version'),
    systemIdentifier: text('system_identifier'),
    stores: jsonb('stores'),
    manifest: jsonb('manifest'),
    error: text('error'),
  },
  (t) => [
    uniqueIndex('backups_cluster_backup_id').on(t.cluster, t.backupId),
    index('backups_cluster_stop_lsn').on(t.cluster, t.stopLsn),
  ],
);

/**
 * The long lists of a retention or verify run (each deletion, each problem), one row per item,
 * keyed by the run's workflow and run id: workflows carry counts and a reference, since these
 * lists grow with the archive and payloads must not. `seq` keeps the order items are acted on.
 */
export const runDetails = pgTable(
  'run_details',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    workflowId: text('workflow_id').notNull(),
    runId: text('run_id').notNull(),
    section: text('section').notNull(),
    seq: integer('seq').notNull(),
    item: jsonb('item').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('run_details_run_section_seq').on(t.runId, t.section, t.seq)],
);

/**
 * A copy a store does not hold yet although the file left the spool: it left early, with
 * WALFLOW_MIN_COPIES copies elsewhere, because the spool reached its limit while this store was
 * failing. Made store to store once the store answers; the row goes when the copy is verified.
 */
export const owedCopies = pgTable(
  'owed_copies',
  {
    id: serial('id').primaryKey(),
    cluster: text('cluster').notNull(),
    name: text('name').notNull(),
    store: text('store').notNull(),
    key: text('key').notNull(),
    owedSince: timestamp('owed_since', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('owed_copies_cluster_name_store').on(t.cluster, t.name, t.store)],
);
