// A cluster's policy: what it keeps, where and how it drills, when it alerts. Its home is the
// input of the cluster's Schedules, written by `walflow schedules apply` from the settings of
// whoever applies them; a one-off run (`walflow prune`, `drill`, `archive`) carries the CLI's
// own. Activities take it from their input, never from the config of the worker that happens
// to run them, so what a cluster keeps cannot depend on which worker polled first.
// Deterministic and dependency-free: workflow code imports it.

export interface RetentionPolicy {
  /** Complete backups younger than this are kept, in every store without its own setting. */
  days: number;
  /** The newest this many complete backups are kept whatever their age. */
  minBackups: number;
  /** Stores with their own retention period. */
  storeDays: Record<string, number>;
}

export interface DrillPolicy {
  /** Host that runs the drill's restore; absent: a host chosen by the worker that starts it. */
  hostId?: string;
  checkQuery: string;
}

export interface AlertPolicy {
  /** spool-age: the oldest spool file has waited this long. */
  spoolAgeMs: number;
  /** backup-missing: no complete backup for this long. */
  backupAgeMs: number;
  /** host-silent: no worker has polled a host's queue, or the host has not answered a check, for this long. */
  hostSilentMs: number;
  /** archive-stale: a WAL segment PostgreSQL finished this long ago is in no store, and nothing newer arrived since. */
  archiveStaleMs: number;
}

export interface ClusterPolicy {
  retention: RetentionPolicy;
  drill: DrillPolicy;
  alerts: AlertPolicy;
}

/** What an input may carry: any part may be absent, so `--input '{"cluster":"main"}'` still works. */
export interface PolicyInput {
  retention?: Partial<RetentionPolicy>;
  drill?: Partial<DrillPolicy>;
  alerts?: Partial<AlertPolicy>;
}

/** walflow's defaults, for settings and for inputs that leave a part out. */
export const POLICY_DEFAULTS = {
  retentionDays: 30,
  minBackups: 1,
  checkQuery: 'SELECT count(*) AS tables FROM pg_class',
  spoolAgeMs: 15 * 60_000,
  hostSilentMs: 5 * 60_000,
  archiveStaleMs: 15 * 60_000,
  backupEveryMs: 24 * 3_600_000,
  /** backup-missing after this many backup intervals without a complete backup. */
  backupAgeIntervals: 1.5,
} as const;

export function resolvePolicy(p: PolicyInput = {}): ClusterPolicy {
  return {
    retention: {
      days: p.retention?.days ?? POLICY_DEFAULTS.retentionDays,
      minBackups: p.retention?.minBackups ?? POLICY_DEFAULTS.minBackups,
      storeDays: p.retention?.storeDays ?? {},
    },
    drill: {
      ...(p.drill?.hostId ? { hostId: p.drill.hostId } : {}),
      checkQuery: p.drill?.checkQuery ?? POLICY_DEFAULTS.checkQuery,
    },
    alerts: {
      spoolAgeMs: p.alerts?.spoolAgeMs ?? POLICY_DEFAULTS.spoolAgeMs,
      backupAgeMs: p.alerts?.backupAgeMs ?? POLICY_DEFAULTS.backupEveryMs * POLICY_DEFAULTS.backupAgeIntervals,
      hostSilentMs: p.alerts?.hostSilentMs ?? POLICY_DEFAULTS.hostSilentMs,
      archiveStaleMs: p.alerts?.archiveStaleMs ?? POLICY_DEFAULTS.archiveStaleMs,
    },
  };
}

export const storeRetentionDays = (r: RetentionPolicy, store: string): number => r.storeDays[store] ?? r.days;
