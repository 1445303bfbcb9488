// walflow schedules apply: the cluster-wide Schedules, carrying the policy these settings give.
import type { Config } from '../../lib/config';
import { describePolicy, policyOf } from '../../lib/policy';
import { connectClient } from '../../lib/temporal';
import { applySchedules } from '../../workers/schedules';

export async function apply(config: Config): Promise<void> {
  const client = await connectClient(config);
  try {
    for (const s of await applySchedules(client, config)) process.stdout.write(`${s.change}: ${s.id}\n`);
    process.stdout.write(`policy: ${describePolicy(policyOf(config))}\n`);
  } finally {
    await client.connection.close();
  }
}
