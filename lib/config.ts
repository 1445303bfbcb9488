// Every setting, validated once at start-up; the parsed object is passed down, never re-read.
import * as os from 'node:os';
import { z } from 'zod';
import { parseCompression } from './codec';
import { conninfoUrl } from './conninfo';
import { parseDuration } from './duration';
import { UserError } from './errors';
import { formatIssues, NAME } from './inputs';
import { parseByteSize } from './spoollimit';
import { ClusterPolicy, POLICY_DEFAULTS } from './clusterpolicy';
import { parseStoreSettings, StoreConfig } from './stores/settings';
import { keyRingFromEnv, type KeyRing } from './crypto/keyring';

/** TLS to Temporal: the server's CA (else the system's), and a client certificate for mutual TLS. */
export interface TemporalTls {
  serverCaPath?: string;
  clientCertPath?: string;
  clientKeyPath?: string;
  serverName?: string;
}

export interface Config {
  temporalAddress: string;
  temporalNamespace: string;
  /** TLS to Temporal (TEMPORAL_TLS*), off when unset; certificate files are read at each connect. */
  temporalTls: TemporalTls | undefined;
  /** TEMPORAL_API_KEY: sent as a bearer token; turns TLS on unless TEMPORAL_TLS=false. */
  temporalApiKey: string | undefined;
  cluster: string;
  hostId: string;
  spoolDir: string;
  /** WALFLOW_SPOOL_MAX in bytes; unset: a share of the spool's file system (lib/spoollimit.ts). */
  spoolMaxBytes: number | undefined;
  /** Verified copies a file needs before it may leave a spool that is past its limit. */
  minCopies: number;
  catalogUrl: string;
  pgUrl: string | undefined;
  stores: StoreConfig[];
  compression: string;
  /** WALFLOW_ENCRYPTION_KEYS or WALFLOW_ENCRYPTION_KEY_FILE; undefined: objects are stored unencrypted. */
  encryption: KeyRing | undefined;
  /**
   * The cluster's policy as these settings say it. Only `schedules apply` and one-off CLI runs
   * use it, writing it into workflow inputs; a worker compares it with the cluster's, never runs by it.
   */
  policy: ClusterPolicy;
  retentionEveryMs: number;
  archiveEveryMs: number;
  /** Interval of the base-backup Schedule (WALFLOW_BACKUP_EVERY, default 1d). */
  backupEveryMs: number;
  /** WALFLOW_BACKUP_FULL_EVERY: scheduled backups are incremental, and full once a chain is this old; unset: always full. */
  backupFullEveryMs?: number;
  verifyEveryMs: number;
  /** Interval of the drill Schedule (WALFLOW_DRILL_EVERY, default 7d); undefined: 'off', no scheduled drills. */
  drillEveryMs: number | undefined;
  /** Interval of the checks Schedule (WALFLOW_CHECK_EVERY, default 1m). */
  checkEveryMs: number;
  /** Scratch root for drills on this host (default: the OS temp folder). */
  drillDir: string | undefined;
  /** Raise an alert when a store has refused an upload of this host's spool for this long. */
  alertUploadFailingMs: number;
  /** JSON POST target for alerts raised and resolved. */
  alertWebhookUrl: string | undefined;
  logLevel: string;
  /** host:port where the worker serves Prometheus metrics at /metrics (WALFLOW_METRICS_ADDRESS); off when unset. */
  metricsAddress: string | undefined;
}

const duration = z.string().transform((s, ctx) => {
  try {
    return parseDuration(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});
/** An optional setting read by `parse` (empty is unset), whose error becomes the setting's message. */
function parsedBy<T>(parse: (s: string) => T, what = '') {
  return z
    .string()
    .optional()
    .transform((s, ctx) => {
      try {
        return s ? parse(s) : undefined;
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: what + (e as Error).message });
        return z.NEVER;
      }
    });
}
const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((s) => ['true', '1', 'yes'].includes(s));
const days = z.coerce.number().int().positive();

const base = z.object({
  TEMPORAL_ADDRESS: z.string().default('localhost:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TLS: bool.optional(),
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_CLIENT_CERT_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_CLIENT_KEY_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  WALFLOW_CLUSTER: z.string().regex(NAME, 'lower-case letters, digits, - and _ only'),
  WALFLOW_HOST_ID: z
    .string()
    .regex(NAME, 'lower-case letters, digits, - and _ only')
    .default(
      os
        .hostname()
        .toLowerCase()
        .replace(/[^a-z0-9_-]/g, '-'),
    ),
  WALFLOW_SPOOL_DIR: z.string().min(1),
  WALFLOW_SPOOL_MAX: parsedBy(parseByteSize),
  WALFLOW_MIN_COPIES: z.coerce.number().int().min(1).default(1),
  WALFLOW_CATALOG_URL: z.string().startsWith('postgres', 'a postgres:// connection URL'),
  /** Either form libpq reads; kept as a URL, the one form node-postgres reads too. */
  WALFLOW_PG_URL: parsedBy(conninfoUrl, 'a postgres:// URL or key=value pairs: '),
  WALFLOW_COMPRESSION: z
    .string()
    .default('zstd')
    .superRefine((s, ctx) => {
      try {
        parseCompression(s);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
      }
    }),
  WALFLOW_RETENTION_DAYS: days.default(POLICY_DEFAULTS.retentionDays),
  WALFLOW_RETENTION_MIN_BACKUPS: z.coerce.number().int().min(1).default(POLICY_DEFAULTS.minBackups),
  WALFLOW_RETENTION_EVERY: duration.default(24 * 3_600_000),
  WALFLOW_ARCHIVE_EVERY: duration.default(5 * 60_000),
  WALFLOW_BACKUP_EVERY: duration.default(POLICY_DEFAULTS.backupEveryMs),
  WALFLOW_BACKUP_FULL_EVERY: duration.optional(),
  WALFLOW_VERIFY_EVERY: duration.default(24 * 3_600_000),
  // 'off': no scheduled drills (`walflow schedules apply` then removes the drill Schedule).
  WALFLOW_DRILL_EVERY: z
    .string()
    .default('7d')
    .transform((s, ctx) => {
      if (s === 'off') return undefined;
      try {
        return parseDuration(s);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: `${(e as Error).message}, or off` });
        return z.NEVER;
      }
    }),
  WALFLOW_CHECK_EVERY: duration.default(60_000),
  WALFLOW_DRILL_HOST: z.string().regex(NAME).optional(),
  WALFLOW_DRILL_DIR: z.string().optional(),
  WALFLOW_DRILL_CHECK_QUERY: z.string().default(POLICY_DEFAULTS.checkQuery),
  WALFLOW_ALERT_UPLOAD_FAILING_AFTER: duration.default(10 * 60_000),
  WALFLOW_ALERT_SPOOL_AGE: duration.default(POLICY_DEFAULTS.spoolAgeMs),
  WALFLOW_ALERT_BACKUP_AGE: duration.optional(),
  WALFLOW_ALERT_HOST_SILENT: duration.default(POLICY_DEFAULTS.hostSilentMs),
  WALFLOW_ALERT_ARCHIVE_STALE: duration.default(POLICY_DEFAULTS.archiveStaleMs),
  WALFLOW_ALERT_WEBHOOK_URL: z.string().url().optional(),
  WALFLOW_METRICS_ADDRESS: z
    .string()
    .regex(/^[^\s:]*:\d{1,5}$/, 'host:port, e.g. 0.0.0.0:9464')
    .optional(),
  WALFLOW_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
});

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const r = base.safeParse(env);
  if (!r.success)
    throw new UserError(`configuration: ${formatIssues(r.error)} (set them in the environment or the --env-file)`);
  const e = r.data;
  if (!e.TEMPORAL_TLS_CLIENT_CERT_PATH !== !e.TEMPORAL_TLS_CLIENT_KEY_PATH)
    throw new UserError(
      'configuration: TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH go together (mutual TLS needs both)',
    );
  const tlsAsked =
    e.TEMPORAL_TLS ??
    Boolean(
      e.TEMPORAL_TLS_SERVER_CA_CERT_PATH ||
      e.TEMPORAL_TLS_CLIENT_CERT_PATH ||
      e.TEMPORAL_TLS_SERVER_NAME ||
      e.TEMPORAL_API_KEY,
    );
  const stores = parseStoreSettings(env);
  const encryption = keyRingFromEnv(env);
  if (e.WALFLOW_MIN_COPIES > stores.length)
    throw new UserError(
      `WALFLOW_MIN_COPIES=${e.WALFLOW_MIN_COPIES} but WALFLOW_STORES names ${stores.length} store(s); lower it`,
    );
  return {
    temporalAddress: e.TEMPORAL_ADDRESS,
    temporalNamespace: e.TEMPORAL_NAMESPACE,
    temporalTls: tlsAsked
      ? {
          serverCaPath: e.TEMPORAL_TLS_SERVER_CA_CERT_PATH,
          clientCertPath: e.TEMPORAL_TLS_CLIENT_CERT_PATH,
          clientKeyPath: e.TEMPORAL_TLS_CLIENT_KEY_PATH,
          serverName: e.TEMPORAL_TLS_SERVER_NAME,
        }
      : undefined,
    temporalApiKey: e.TEMPORAL_API_KEY,
    cluster: e.WALFLOW_CLUSTER,
    hostId: e.WALFLOW_HOST_ID,
    spoolDir: e.WALFLOW_SPOOL_DIR,
    spoolMaxBytes: e.WALFLOW_SPOOL_MAX,
    minCopies: e.WALFLOW_MIN_COPIES,
    catalogUrl: e.WALFLOW_CATALOG_URL,
    pgUrl: e.WALFLOW_PG_URL || undefined,
    stores: stores.map((s) => s.store),
    compression: e.WALFLOW_COMPRESSION,
    encryption,
    policy: {
      retention: {
        days: e.WALFLOW_RETENTION_DAYS,
        minBackups: e.WALFLOW_RETENTION_MIN_BACKUPS,
        storeDays: Object.fromEntries(
          stores.filter((s) => s.retentionDays !== undefined).map((s) => [s.store.name, s.retentionDays!]),
        ),
      },
      drill: {
        ...(e.WALFLOW_DRILL_HOST ? { hostId: e.WALFLOW_DRILL_HOST } : {}),
        checkQuery: e.WALFLOW_DRILL_CHECK_QUERY,
      },
      alerts: {
        spoolAgeMs: e.WALFLOW_ALERT_SPOOL_AGE,
        backupAgeMs:
          e.WALFLOW_ALERT_BACKUP_AGE ?? Math.round(e.WALFLOW_BACKUP_EVERY * POLICY_DEFAULTS.backupAgeIntervals),
        hostSilentMs: e.WALFLOW_ALERT_HOST_SILENT,
        archiveStaleMs: e.WALFLOW_ALERT_ARCHIVE_STALE,
      },
    },
    retentionEveryMs: e.WALFLOW_RETENTION_EVERY,
    archiveEveryMs: e.WALFLOW_ARCHIVE_EVERY,
    backupEveryMs: e.WALFLOW_BACKUP_EVERY,
    backupFullEveryMs: e.WALFLOW_BACKUP_FULL_EVERY,
    verifyEveryMs: e.WALFLOW_VERIFY_EVERY,
    drillEveryMs: e.WALFLOW_DRILL_EVERY,
    checkEveryMs: e.WALFLOW_CHECK_EVERY,
    drillDir: e.WALFLOW_DRILL_DIR || undefined,
    alertUploadFailingMs: e.WALFLOW_ALERT_UPLOAD_FAILING_AFTER,
    alertWebhookUrl: e.WALFLOW_ALERT_WEBHOOK_URL || undefined,
    logLevel: e.WALFLOW_LOG_LEVEL,
    metricsAddress: e.WALFLOW_METRICS_ADDRESS || undefined,
  };
}
