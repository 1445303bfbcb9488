// Catalog activities: what was archived where, and alerts (stored, deduplicated, logged).
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Catalog } from '../db/client';
import { alerts, walCopies, walFiles } from '../db/schema';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/log';
import type { AlertInput, CopyResult, StagedFile } from '../workflows/shared';

export function catalogActivities(config: Config, db: () => Catalog, log: Logger) {
  async function raiseAlert(a: AlertInput): Promise<void> {
    const rows = await db().insert(alerts).values({
      cluster: a.cluster, key: a.key, kind: a.kind, message: a.message, details: a.details ?? null,
    }).onConflictDoUpdate({
      target: [alerts.cluster, alerts.key],
      targetWhere: isNull(alerts.resolvedAt),
      set: { lastSeenAt: sql`now()`, occurrences: sql`${alerts.occurrences} + 1`, message: a.message },
    }).returning({ occurrences: alerts.occurrences });
    if (rows[0]?.occurrences === 1) log.error({ alert: a.kind, key: a.key, cluster: a.cluster, ...a.details }, a.message);
  }

  async function resolveAlert({ cluster, key }: { cluster: string; key: string }): Promise<void> {
    const rows = await db().update(alerts).set({ resolvedAt: sql`now()` })
      .where(and(eq(alerts.cluster, cluster), eq(alerts.key, key), isNull(alerts.resolvedAt)))
      .returning({ id: alerts.id });
    if (rows.length) log.info({ alert: key, cluster }, 'alert resolved');
  }

  return {
    raiseAlert,
    resolveAlert,

    async recordArchived({ cluster, staged, copies }: { cluster: string; staged: StagedFile; copies: CopyResult[] }) {
      await db().transaction(async (tx) => {
        const file = {
          cluster, timeline: staged.timeline, name: staged.name, kind: staged.kind,
          startLsn: staged.startLsn === null ? null : BigInt(staged.startLsn),
          rawSize: staged.rawSize, storedSize: staged.storedSize, codec: staged.codec, sha256: staged.sha256,
          key: staged.key, handedOverAt: new Date(staged.handedOverAt), archivedAt: new Date(),
        };
        await tx.insert(walFiles).values(file).onConflictDoUpdate({
          target: [walFiles.cluster, walFiles.name], set: { archivedAt: file.archivedAt },
        });
        for (const c of copies) {
          await tx.insert(walCopies).values({
            cluster, name: staged.name, store: c.store, key: staged.key, storedSize: staged.storedSize,
            confirmedAt: new Date(c.confirmedAt), uploadMs: c.uploadMs,
          }).onConflictDoNothing();
        }
      });
      log.info({ cluster, file: staged.name, raw: staged.rawSize, stored: staged.storedSize, stores: copies.map((c) => `${c.store}:${c.outcome}`) }, 'archived');
    },

    async checkSpoolAge({ cluster, hostId, oldestAgeMs }: { cluster: string; hostId: string; oldestAgeMs: number }) {
      const key = `spool-age:${hostId}`;
      if (oldestAgeMs > config.alertSpoolAgeMs) {
        await raiseAlert({
          cluster, key, kind: 'spool-age',
          message: `the oldest file in ${hostId}'s spool has waited ${Math.round(oldestAgeMs / 1000)}s; check the stores and the worker`,
          details: { host: hostId, oldestAgeMs },
        });
      } else {
        await resolveAlert({ cluster, key });
      }
    },
  };
}
