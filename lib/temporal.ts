// Temporal client connection from config, with a message that says what to do when it fails.
import { Client, Connection } from '@temporalio/client';
import type { Config } from './config';
import { UserError } from './errors';

export async function connectClient(config: Config): Promise<Client> {
  try {
    const connection = await Connection.connect({ address: config.temporalAddress, connectTimeout: '5s' });
    return new Client({ connection, namespace: config.temporalNamespace });
  } catch (e) {
    throw new UserError(`cannot reach Temporal at ${config.temporalAddress} (${(e as Error).message}); start it or fix TEMPORAL_ADDRESS`);
  }
}
