// walflow schedules apply
import type { Config } from '../../lib/config';
import { connectClient } from '../../lib/temporal';
import { applySchedules } from '../../workers/schedules';

export async function apply(config: Config): Promise<void> {
  const client = await connectClient(config);
  try {
    for (const s of await applySchedules(client, config)) process.stdout.write(`${s.change}: ${s.id}\n`);
  } finally {
    await client.connection.close();
  }
}
