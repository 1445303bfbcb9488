// walflow alerts [--all] [--json]: open alerts (and with --all, resolved ones too).
import { and, desc, eq, isNull } from 'drizzle-orm';
import { withCatalog } from '../../db/client';
import { alerts as alertsTable } from '../../db/schema';
import type { Config } from '../../lib/config';

export async function alerts(config: Config, o: { json?: boolean; all?: boolean }): Promise<void> {
  const rows = await withCatalog(config.catalogUrl, (db) =>
    db
      .select()
      .from(alertsTable)
      .where(
        o.all
          ? eq(alertsTable.cluster, config.cluster)
          : and(eq(alertsTable.cluster, config.cluster), isNull(alertsTable.resolvedAt)),
      )
      .orderBy(desc(alertsTable.raisedAt))
      .limit(200),
  );
  const out = rows.map((a) => ({
    kind: a.kind,
    key: a.key,
    severity: a.severity,
    message: a.message,
    details: a.details,
    raisedAt: a.raisedAt.toISOString(),
    lastSeenAt: a.lastSeenAt.toISOString(),
    occurrences: a.occurrences,
    resolvedAt: a.resolvedAt?.toISOString() ?? null,
    delivered: config.alertWebhookUrl ? a.notifiedAt !== null : null,
  }));
  if (o.json) {
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    return;
  }
  if (!out.length) process.stdout.write(o.all ? 'no alerts\n' : 'no open alerts\n');
  for (const a of out) {
    const state = a.resolvedAt ? `resolved ${a.resolvedAt}` : 'OPEN';
    process.stdout.write(`${state.padEnd(33)} [${a.kind}] ${a.message} (since ${a.raisedAt}, x${a.occurrences})\n`);
  }
}
