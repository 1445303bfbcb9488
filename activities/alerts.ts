// Alerts: stored in the catalog, one open row per condition while it lasts (deduplicated by
// key), logged once when raised, and posted to an optional webhook. Delivery never blocks
// archiving: a webhook that is down leaves the row undelivered, and every checks run retries.
// While the catalog cannot be written, announceAlert logs and posts an alert without it.
import { Context } from '@temporalio/activity';
import { and, desc, eq, isNotNull, isNull, or, sql } from 'drizzle-orm';
import type { Catalog } from '../db/client';
import { alerts, backups, walFiles } from '../db/schema';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/log';
import { AlertInput, alertWorkflowId } from '../lib/contracts';
import { spoolAge, spoolAgeKey } from '../lib/hostchecks';

type AlertRow = typeof alerts.$inferSelect;
type AlertBody = Omit<AlertRow, 'id' | 'lastSeenAt' | 'notifiedAt' | 'resolutionNotifiedAt'>;
const WEBHOOK_TIMEOUT_MS = 5_000;

export function alertActivities(config: Config, db: () => Catalog, log: Logger) {
  async function post(row: AlertBody, event: 'raised' | 'resolved'): Promise<boolean> {
    if (!config.alertWebhookUrl) return true;
    const body = {
      event,
      cluster: row.cluster,
      key: row.key,
      kind: row.kind,
      severity: row.severity,
      message: row.message,
      details: row.details,
      raisedAt: row.raisedAt,
      resolvedAt: row.resolvedAt,
      occurrences: row.occurrences,
    };
    try {
      const r = await fetch(config.alertWebhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      });
      if (r.ok) return true;
      log.warn({ alert: row.key, status: r.status }, 'alert webhook refused the alert; will retry');
    } catch (e) {
      log.warn({ alert: row.key, err: (e as Error).message }, 'alert webhook unreachable; will retry');
    }
    return false;
  }

  /** Whether a deliverAlert workflow, started while the catalog was down, has this alert in hand. */
  async function beingAnnounced(a: { cluster: string; key: string }): Promise<boolean> {
    try {
      const d = await Context.current().client.workflow.getHandle(alertWorkflowId(a.cluster, a.key)).describe();
      return d.status.name === 'RUNNING';
    } catch {
      return false; // none ever started (or Temporal cannot say): deliver it here
    }
  }

  /**
   * Delivers whatever the webhook has not acknowledged yet, raised before resolved. The row stays
   * locked while it is posted, so the checks' retries and the raise or resolve that changed it
   * never post it twice; a crash before the commit leaves it to be posted again.
   */
  async function deliver(id: number): Promise<void> {
    await db().transaction(async (tx) => {
      const [row] = await tx.select().from(alerts).where(eq(alerts.id, id)).for('update', { skipLocked: true });
      if (!row) return; // another worker is delivering it now
      if (!row.notifiedAt) {
        // Its deliverAlert workflow posted it, or is about to, and marks it when it records it.
        if (await beingAnnounced(row)) return;
        if (!(await post(row, 'raised'))) return;
        await tx
          .update(alerts)
          .set({ notifiedAt: sql`now()` })
          .where(eq(alerts.id, row.id));
      }
      if (row.resolvedAt && !row.resolutionNotifiedAt && (await post(row, 'resolved'))) {
        await tx
          .update(alerts)
          .set({ resolutionNotifiedAt: sql`now()` })
          .where(eq(alerts.id, row.id));
      }
    });
  }

  /**
   * Whether the alert was resolved after `since`, with none open now: the condition a run began
   * waiting on before then has since cleared, and the run is only slow in its own retry backoff.
   */
  async function clearedSince(a: AlertInput, since: string): Promise<boolean> {
    const [last] = await db()
      .select({ resolvedAt: alerts.resolvedAt })
      .from(alerts)
      .where(and(eq(alerts.cluster, a.cluster), eq(alerts.key, a.key)))
      .orderBy(desc(alerts.raisedAt))
      .limit(1);
    return !!last?.resolvedAt && last.resolvedAt.getTime() > Date.parse(since);
  }

  async function raiseAlert(a: AlertInput): Promise<void> {
    const since = a.details?.waitingSince;
    if (typeof since === 'string' && (await clearedSince(a, since))) {
      log.info({ alert: a.key, cluster: a.cluster, since }, 'not raised again: resolved after this run began waiting');
      return;
    }
    const [row] = await db()
      .insert(alerts)
      .values({
        cluster: a.cluster,
        key: a.key,
        kind: a.kind,
        message: a.message,
        details: a.details ?? null,
        ...(a.announced ? { notifiedAt: sql`now()` } : {}),
      })
      .onConflictDoUpdate({
        target: [alerts.cluster, alerts.key],
        targetWhere: isNull(alerts.resolvedAt),
        set: {
          lastSeenAt: sql`now()`,
          occurrences: sql`${alerts.occurrences} + 1`,
          message: a.message,
          ...(a.announced ? { notifiedAt: sql`coalesce(${alerts.notifiedAt}, now())` } : {}),
        },
      })
      .returning();
    if (row.occurrences === 1) log.error({ alert: a.kind, key: a.key, cluster: a.cluster, ...a.details }, a.message);
    await deliver(row.id);
  }

  async function resolveAlert({ cluster, key }: { cluster: string; key: string }): Promise<void> {
    const rows = await db()
      .update(alerts)
      .set({ resolvedAt: sql`now()` })
      .where(and(eq(alerts.cluster, cluster), eq(alerts.key, key), isNull(alerts.resolvedAt)))
      .returning();
    for (const row of rows) {
      log.info({ alert: key, cluster }, 'alert resolved');
      await deliver(row.id);
    }
  }

  return {
    raiseAlert,
    resolveAlert,

    /** Logs and posts an alert without the catalog; true when the webhook took it (or there is none). */
    async announceAlert(a: AlertInput): Promise<boolean> {
      log.error({ alert: a.kind, key: a.key, cluster: a.cluster, ...a.details }, `${a.message} (catalog unreachable)`);
      const at = new Date();
      return post(
        {
          cluster: a.cluster,
          key: a.key,
          kind: a.kind,
          severity: 'error',
          message: a.message,
          details: a.details ?? null,
          raisedAt: at,
          resolvedAt: null,
          occurrences: 1,
        },
        'raised',
      );
    },

    async deliverPendingAlerts({ cluster }: { cluster: string }): Promise<number> {
      if (!config.alertWebhookUrl) return 0;
      const pending = await db()
        .select()
        .from(alerts)
        .where(
          and(
            eq(alerts.cluster, cluster),
            or(isNull(alerts.notifiedAt), and(isNotNull(alerts.resolvedAt), isNull(alerts.resolutionNotifiedAt))),
          ),
        );
      for (const row of pending) await deliver(row.id);
      return pending.length;
    },

    /** No complete backup within `maxAgeMs` (counted from the first archived WAL if none ever). */
    async checkBackupAge({ cluster, maxAgeMs }: { cluster: string; maxAgeMs: number }) {
      const [b] = await db()
        .select({ at: sql<Date | null>`max(${backups.completedAt})` })
        .from(backups)
        .where(and(eq(backups.cluster, cluster), eq(backups.status, 'complete')));
      const [w] = await db()
        .select({ at: sql<Date | null>`min(${walFiles.archivedAt})` })
        .from(walFiles)
        .where(eq(walFiles.cluster, cluster));
      const since = b?.at ?? w?.at;
      const key = 'backup-missing';
      if (since && Date.now() - new Date(since).getTime() > maxAgeMs) {
        await raiseAlert({
          cluster,
          key,
          kind: 'backup-missing',
          message: b?.at
            ? `the newest complete backup finished ${new Date(b.at).toISOString()}; check the base-backup schedule ('walflow backups')`
            : `no complete backup since WAL archiving began at ${new Date(since).toISOString()}: the WAL alone restores nothing; run 'walflow backup'`,
          details: { newestBackup: b?.at ?? null },
        });
      } else {
        await resolveAlert({ cluster, key });
      }
    },

    async checkSpoolAge({
      cluster,
      hostId,
      oldestAgeMs,
      maxAgeMs,
    }: {
      cluster: string;
      hostId: string;
      oldestAgeMs: number;
      maxAgeMs: number;
    }) {
      const alert = spoolAge(cluster, hostId, oldestAgeMs, maxAgeMs);
      if (alert) await raiseAlert(alert);
      else await resolveAlert({ cluster, key: spoolAgeKey(hostId) });
    },
  };
}
