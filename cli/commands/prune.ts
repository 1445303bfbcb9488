// walflow prune [--dry-run] [--json] [--as-of T]: runs the retention workflow now.
import { withCatalog } from '../../db/client';
import { readAllDetails } from '../../db/rundetails';
import type { Config } from '../../lib/config';
import { UserError } from '../../lib/errors';
import { describeRetention, policyOf } from '../../lib/policy';
import { connectClient, requireClusterWorker, workflowOutcome } from '../../lib/temporal';
import type { ClusterPolicy } from '../../lib/clusterpolicy';
import { Deletion, deletionSection, RetentionListing, RetentionResult, retentionScheduleId } from '../../lib/contracts';
import { startOptions } from '../../lib/workflowstart';
import type { retention } from '../../workflows/retention';

export interface PruneOptions {
  dryRun?: boolean;
  json?: boolean;
  asOf?: string;
  retentionDays?: string;
  minBackups?: string;
}

function wholeNumber(flag: string, text: string, min: number, what: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min)
    throw new UserError(`${flag} "${text}" is not a whole number of ${what} (at least ${min})`);
  return n;
}

/** This command's settings, with this run's flags on top: the policy the run applies. */
function runPolicy(config: Config, o: PruneOptions): ClusterPolicy {
  const policy = policyOf(config);
  return {
    ...policy,
    retention: {
      ...policy.retention,
      ...(o.retentionDays !== undefined ? { days: wholeNumber('--retention-days', o.retentionDays, 1, 'days') } : {}),
      ...(o.minBackups !== undefined ? { minBackups: wholeNumber('--min-backups', o.minBackups, 1, 'backups') } : {}),
    },
  };
}

export async function prune(config: Config, o: PruneOptions): Promise<void> {
  if (o.asOf !== undefined && Number.isNaN(Date.parse(o.asOf)))
    throw new UserError(`--as-of "${o.asOf}" is not a time; use ISO 8601, e.g. 2026-12-24T00:00:00Z`);
  const policy = runPolicy(config, o);
  const client = await connectClient(config);
  try {
    await requireClusterWorker(client, config.cluster);
    const workflowId = `${retentionScheduleId(config.cluster)}/${new Date().toISOString()}${o.dryRun ? '-dry-run' : ''}`;
    const run = await workflowOutcome(
      'prune',
      workflowId,
      client.workflow.execute<typeof retention>('retention', {
        ...startOptions({ kind: 'retention', cluster: config.cluster, workflowId, memo: { trigger: 'walflow prune' } }),
        args: [
          {
            cluster: config.cluster,
            dryRun: !!o.dryRun,
            now: o.asOf ? new Date(o.asOf).toISOString() : undefined,
            policy,
          },
        ],
      }),
    );
    const result = await withDeletions(config, run);
    if (o.json) {
      process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      return;
    }
    process.stdout.write(`policy: ${describeRetention(result.policy)} (this command's settings and flags)\n`);
    for (const s of result.stores) {
      process.stdout.write(
        `${s.store}: keep ${s.kept.length ? s.kept.join(', ') : 'no backup'} (${s.retentionDays} days, at least ${result.minBackups})\n`,
      );
      if (s.blocked) process.stdout.write(`  blocked: ${s.blocked}\n`);
      for (const k of s.keptWal)
        process.stdout.write(
          `  keep timeline ${k.timeline} from ${k.from} to ${k.to} (${k.files} file(s)): ${k.reason}\n`,
        );
      for (const d of s.deletions)
        process.stdout.write(`  ${o.dryRun ? 'would delete' : 'deleted'} ${d.key}: ${d.reason}\n`);
      if (!s.deletions.length) process.stdout.write('  nothing to delete\n');
    }
  } finally {
    await client.connection.close();
  }
}

/** The run's result with each store's every deletion, read from the catalog where the run wrote them. */
async function withDeletions(config: Config, run: RetentionResult): Promise<RetentionListing> {
  return withCatalog(config.catalogUrl, async (db) => {
    const stores = [];
    for (const s of run.stores)
      stores.push({ ...s, deletions: await readAllDetails<Deletion>(() => db, run.details, deletionSection(s.store)) });
    return { ...run, stores };
  });
}
