// The cluster's policy as people meet it: what a run writes into its input, one line that says
// what applies, and where a worker's own settings differ, named by the setting to change.
import type { Config } from './config';
import { storeSettingPrefix } from './stores/settings';
import { formatDuration } from './duration';
import { ClusterPolicy, RetentionPolicy, storeRetentionDays } from './clusterpolicy';

/** The policy these settings give a workflow input; drills run on this host unless WALFLOW_DRILL_HOST says otherwise. */
export function policyOf(config: Config): ClusterPolicy {
  return { ...config.policy, drill: { ...config.policy.drill, hostId: config.policy.drill.hostId ?? config.hostId } };
}

export function describeRetention(r: RetentionPolicy): string {
  const stores = Object.entries(r.storeDays).map(([s, d]) => `${s} ${d} days`);
  return `keep backups ${r.days} days, at least ${r.minBackups}${stores.length ? ` (${stores.join(', ')})` : ''}`;
}

export function describePolicy(p: ClusterPolicy): string {
  return [
    describeRetention(p.retention),
    `drill on ${p.drill.hostId ?? 'any host'} checking "${p.drill.checkQuery}"`,
    `alert when a spool file waits ${formatDuration(p.alerts.spoolAgeMs)} or no backup completes for ${formatDuration(p.alerts.backupAgeMs)}`,
    `when a host is silent for ${formatDuration(p.alerts.hostSilentMs)} or finished WAL reaches no store for ${formatDuration(p.alerts.archiveStaleMs)}`,
  ].join('; ');
}

export interface PolicyDifference {
  setting: string;
  here: string | number | null;
  cluster: string | number | null;
}

/** Where a worker's own settings differ from the cluster's policy. */
export function policyDifferences(here: ClusterPolicy, cluster: ClusterPolicy): PolicyDifference[] {
  const out: PolicyDifference[] = [];
  const compare = (setting: string, a: string | number | undefined, b: string | number | undefined) => {
    if (a !== b) out.push({ setting, here: a ?? null, cluster: b ?? null });
  };
  compare('WALFLOW_RETENTION_DAYS', here.retention.days, cluster.retention.days);
  compare('WALFLOW_RETENTION_MIN_BACKUPS', here.retention.minBackups, cluster.retention.minBackups);
  for (const store of [
    ...new Set([...Object.keys(here.retention.storeDays), ...Object.keys(cluster.retention.storeDays)]),
  ].sort()) {
    compare(
      `${storeSettingPrefix(store)}RETENTION_DAYS`,
      storeRetentionDays(here.retention, store),
      storeRetentionDays(cluster.retention, store),
    );
  }
  // Unset, a worker has no opinion on the drill host (it defaults to whoever applies).
  if (here.drill.hostId !== undefined) compare('WALFLOW_DRILL_HOST', here.drill.hostId, cluster.drill.hostId);
  compare('WALFLOW_DRILL_CHECK_QUERY', here.drill.checkQuery, cluster.drill.checkQuery);
  compare('WALFLOW_ALERT_SPOOL_AGE', here.alerts.spoolAgeMs, cluster.alerts.spoolAgeMs);
  compare('WALFLOW_ALERT_BACKUP_AGE', here.alerts.backupAgeMs, cluster.alerts.backupAgeMs);
  compare('WALFLOW_ALERT_HOST_SILENT', here.alerts.hostSilentMs, cluster.alerts.hostSilentMs);
  compare('WALFLOW_ALERT_ARCHIVE_STALE', here.alerts.archiveStaleMs, cluster.alerts.archiveStaleMs);
  return out;
}
