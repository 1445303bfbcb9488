// walflow schedules apply [--dry-run]: the cluster-wide Schedules, carrying the policy these settings give.
// walflow schedules retire-host HOST: a host gone for good stops counting as one of the cluster's.
import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import { withCatalog } from '../../db/client';
import { alerts } from '../../db/schema';
import type { Config } from '../../lib/config';
import { hostSilentKey, archiveFailingKey, archiveStaleKey, spoolAgeKey } from '../../lib/hostchecks';
import { describePolicy, policyOf } from '../../lib/policy';
import { connectClient } from '../../lib/temporal';
import { sweepScheduleId } from '../../lib/contracts';
import { applySchedules, planSchedules, retireHostSweep } from '../../workers/schedules';

export async function apply(config: Config, o: { dryRun?: boolean } = {}): Promise<void> {
  const client = await connectClient(config);
  try {
    if (o.dryRun) {
      for (const line of await planSchedules(client, config)) process.stdout.write(`${line}\n`);
      process.stdout.write(`policy: ${describePolicy(policyOf(config))} (dry run: nothing changed)\n`);
      return;
    }
    for (const s of await applySchedules(client, config))
      process.stdout.write(`${s.change}: ${s.id}${s.why ? ` (${s.why})` : ''}\n`);
    process.stdout.write(`policy: ${describePolicy(policyOf(config))}\n`);
  } finally {
    await client.connection.close();
  }
}

export async function retireHost(config: Config, hostId: string): Promise<void> {
  const client = await connectClient(config);
  try {
    await retireHostSweep(client, config.cluster, hostId);
  } finally {
    await client.connection.close();
  }
  process.stdout.write(`deleted: ${sweepScheduleId(config.cluster, hostId)}\n`);
  // Nobody will ever resolve these otherwise: the checks no longer look at the host.
  const keys = [hostSilentKey, archiveFailingKey, archiveStaleKey, spoolAgeKey].map((k) => k(hostId));
  const resolved = await withCatalog(config.catalogUrl, (db) =>
    db
      .update(alerts)
      .set({ resolvedAt: sql`now()` })
      .where(and(eq(alerts.cluster, config.cluster), inArray(alerts.key, keys), isNull(alerts.resolvedAt)))
      .returning({ key: alerts.key }),
  );
  for (const r of resolved) process.stdout.write(`resolved: ${r.key}\n`);
  process.stdout.write(
    `host ${hostId} retired from cluster ${config.cluster}; its WAL and backups stay in the stores and the catalog\n`,
  );
}
