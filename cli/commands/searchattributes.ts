// walflow search-attributes register: once per namespace, before the first worker or workflow start.
import type { Config } from '../../lib/config';
import { registerSearchAttributes } from '../../lib/searchattributes';
import { connectClient } from '../../lib/temporal';

export async function register(config: Config): Promise<void> {
  const client = await connectClient(config);
  try {
    const added = await registerSearchAttributes(client);
    process.stdout.write(
      added.length
        ? `registered in ${config.temporalNamespace}: ${added.join(', ')}\n`
        : `already registered in ${config.temporalNamespace}\n`,
    );
  } finally {
    await client.connection.close();
  }
}
