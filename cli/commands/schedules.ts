// walflow schedules apply [--dry-run]: the cluster-wide Schedules, carrying the policy these settings give.
import type { Config } from '../../lib/config';
import { describePolicy, policyOf } from '../../lib/policy';
import { connectClient } from '../../lib/temporal';
import { applySchedules, planSchedules } from '../../workers/schedules';

export async function apply(config: Config, o: { dryRun?: boolean } = {}): Promise<void> {
  const client = await connectClient(config);
  try {
    if (o.dryRun) {
      for (const line of await planSchedules(client, config)) process.stdout.write(`${line}\n`);
      process.stdout.write(`policy: ${describePolicy(policyOf(config))} (dry run: nothing changed)\n`);
      return;
    }
    for (const s of await applySchedules(client, config)) process.stdout.write(`${s.change}: ${s.id}\n`);
    process.stdout.write(`policy: ${describePolicy(policyOf(config))}\n`);
  } finally {
    await client.connection.close();
  }
}
