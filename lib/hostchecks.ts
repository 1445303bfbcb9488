// What the periodic checks conclude about one host: silent, archive_command failing, WAL stale.
// Each condition is an alert with a key per host, raised while it holds and resolved after.
// Deterministic and free of run-time imports: the checks workflow decides with it.
import type { AlertInput, ArchiverReport, NewestArchived } from './contracts';

/**
 * How old a live worker's last poll can look: a poll waits up to a minute on an idle queue
 * before the worker polls again, and Temporal stamps the poll when it arrives.
 */
export const POLL_CYCLE_MS = 90_000;

const seconds = (ms: number) => `${Math.round(ms / 1000)}s`;

export const hostSilentKey = (hostId: string) => `host-silent:${hostId}`;
export const archiveFailingKey = (hostId: string) => `archive-command-failing:${hostId}`;
export const archiveStaleKey = (hostId: string) => `archive-stale:${hostId}`;
export const spoolAgeKey = (hostId: string) => `spool-age:${hostId}`;

/** spool-age: the oldest file in the host's spool has waited longer than the threshold. */
export function spoolAge(cluster: string, hostId: string, oldestAgeMs: number, maxAgeMs: number): AlertInput | null {
  if (oldestAgeMs <= maxAgeMs) return null;
  return {
    cluster,
    key: spoolAgeKey(hostId),
    kind: 'spool-age',
    message: `the oldest file in ${hostId}'s spool has waited ${seconds(oldestAgeMs)}; check the stores and the worker`,
    details: { host: hostId, oldestAgeMs },
  };
}

/**
 * host-silent by the host's task queue: no poll within the threshold (never less than a poll
 * cycle). lastPollAgeMs null: Temporal lists no poller at all, which it does minutes after the last.
 */
export function silentByPolls(
  cluster: string,
  hostId: string,
  lastPollAgeMs: number | null,
  silentMs: number,
): AlertInput | null {
  if (lastPollAgeMs !== null && lastPollAgeMs <= Math.max(silentMs, POLL_CYCLE_MS)) return null;
  return {
    cluster,
    key: hostSilentKey(hostId),
    kind: 'host-silent',
    message:
      `no worker has polled host ${hostId}'s task queue ` +
      (lastPollAgeMs === null ? 'for minutes' : `for ${seconds(lastPollAgeMs)}`) +
      `: its spool is not being archived; start 'walflow worker' on ${hostId}` +
      ` (or, if ${hostId} is gone for good, 'walflow schedules retire-host ${hostId}')`,
    details: { host: hostId, lastPollAgeMs },
  };
}

/** host-silent by the host's answer: its worker polls but did not report its spool within the threshold. */
export function silentByReport(cluster: string, hostId: string, silentMs: number, error: string): AlertInput {
  return {
    cluster,
    key: hostSilentKey(hostId),
    kind: 'host-silent',
    message:
      `host ${hostId} has not reported its spool within ${seconds(silentMs)} (${error}); ` +
      `its worker polls but does not finish work: check its log, disk and load`,
    details: { host: hostId, error },
  };
}

/** archive_command failing: PostgreSQL's newest failure is newer than its newest success. */
export function archiveFailing(cluster: string, hostId: string, a: ArchiverReport): AlertInput | null {
  if (!a.lastFailedAt) return null;
  if (a.lastArchivedAt && Date.parse(a.lastArchivedAt) >= Date.parse(a.lastFailedAt)) return null;
  return {
    cluster,
    key: archiveFailingKey(hostId),
    kind: 'archive-command-failing',
    message:
      `PostgreSQL on ${hostId} failed to archive ${a.lastFailedWal ?? 'a file'} at ${a.lastFailedAt} and has not ` +
      `archived since: WAL piles up in pg_wal; see PostgreSQL's log for the archive_command's error`,
    details: { host: hostId, lastFailedWal: a.lastFailedWal, lastArchivedWal: a.lastArchivedWal },
  };
}

/**
 * archive-stale: a segment PostgreSQL finished longer ago than the threshold is in no store, and
 * nothing newer reached the stores within it (a gap behind newer WAL is verify's archive-gap).
 */
export function archiveStale(
  cluster: string,
  hostId: string,
  a: ArchiverReport,
  newest: NewestArchived | null,
  staleMs: number,
): AlertInput | null {
  const waiting = a.oldestUnarchived;
  if (!waiting || waiting.ageMs <= staleMs) return null;
  if (newest && newest.ageMs <= staleMs) return null;
  return {
    cluster,
    key: archiveStaleKey(hostId),
    kind: 'archive-stale',
    message:
      `PostgreSQL on ${hostId} finished WAL segment ${waiting.name} ${seconds(waiting.ageMs)} ago and no store has it` +
      (newest ? ` (newest in the stores: ${newest.name}, ${seconds(newest.ageMs)} ago)` : '') +
      `: check that archive_command runs 'walflow push %p %f' ('walflow doctor') and the host's spool`,
    details: { host: hostId, oldestUnarchived: waiting.name, newestArchived: newest?.name ?? null },
  };
}
