// Catalog read-outs shared by `walflow status`, `walflow doctor` and the worker's metrics.
import { and, desc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Catalog } from './client';
import { alerts, backups, owedCopies, runs, walCopies, walFiles } from './schema';

/** Per store, the newest archived segment (by name), when its newest copy was confirmed, and the bytes of its segment copies. */
export async function newestSegmentPerStore(
  db: Catalog,
  cluster: string,
): Promise<{ store: string; name: string; confirmedAt: Date; bytes: number }[]> {
  const rows = await db
    .select({
      store: walCopies.store,
      name: sql<string>`max(${walCopies.name})`,
      confirmedAt: sql<Date>`max(${walCopies.confirmedAt})`,
      bytes: sql<string>`coalesce(sum(${walCopies.storedSize}), 0)::text`,
    })
    .from(walCopies)
    .innerJoin(walFiles, and(eq(walFiles.cluster, walCopies.cluster), eq(walFiles.name, walCopies.name)))
    .where(and(eq(walCopies.cluster, cluster), inArray(walFiles.kind, ['segment', 'partial'])))
    .groupBy(walCopies.store);
  return rows.map((r) => ({ ...r, confirmedAt: new Date(r.confirmedAt), bytes: Number(r.bytes) }));
}

export async function newestCompleteBackup(db: Catalog, cluster: string) {
  const [b] = await db
    .select()
    .from(backups)
    .where(and(eq(backups.cluster, cluster), eq(backups.status, 'complete')))
    .orderBy(desc(backups.completedAt))
    .limit(1);
  return b?.completedAt ? { ...b, completedAt: b.completedAt } : undefined;
}

export async function openAlertsByKind(db: Catalog, cluster: string): Promise<{ kind: string; open: number }[]> {
  return db
    .select({ kind: alerts.kind, open: sql<number>`count(*)::int` })
    .from(alerts)
    .where(and(eq(alerts.cluster, cluster), isNull(alerts.resolvedAt)))
    .groupBy(alerts.kind);
}

/** The newest run of a kind (drill, verify, retention, restore), or undefined. */
export async function newestRun(db: Catalog, cluster: string, kind: string) {
  const [r] = await db
    .select()
    .from(runs)
    .where(and(eq(runs.cluster, cluster), eq(runs.kind, kind)))
    .orderBy(desc(runs.finishedAt))
    .limit(1);
  return r;
}

/** Per store, the copies it is owed (files that left a full spool before it took them) and since when. */
export async function owedPerStore(
  db: Catalog,
  cluster: string,
): Promise<{ store: string; copies: number; oldest: Date }[]> {
  const rows = await db
    .select({
      store: owedCopies.store,
      copies: sql<number>`count(*)::int`,
      oldest: sql<Date>`min(${owedCopies.owedSince})`,
    })
    .from(owedCopies)
    .where(eq(owedCopies.cluster, cluster))
    .groupBy(owedCopies.store);
  return rows.map((r) => ({ ...r, oldest: new Date(r.oldest) }));
}
