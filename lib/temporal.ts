// Temporal connections from config: the address, TLS (server CA, client certificate) and API
// key in one place for the CLI and the worker, with a message that says what to do on failure.
import * as fs from 'node:fs';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import type { Config } from './config';
import { UserError } from './errors';

function readPem(file: string, setting: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new UserError(`${setting} ${file}: ${(e as Error).message}; fix the path or its permissions`);
  }
}

/**
 * What both Connection (client) and NativeConnection (worker) take. Certificate files are read
 * at each connect, so a renewed certificate is used from the next reconnect on.
 */
export function temporalConnectionOptions(config: Config): {
  address: string;
  tls?: TLSConfig;
  apiKey?: string;
} {
  const t = config.temporalTls;
  const tls: TLSConfig | undefined = t && {
    ...(t.serverName ? { serverNameOverride: t.serverName } : {}),
    ...(t.serverCaPath ? { serverRootCACertificate: readPem(t.serverCaPath, 'TEMPORAL_TLS_SERVER_CA_CERT_PATH') } : {}),
    ...(t.clientCertPath && t.clientKeyPath
      ? {
          clientCertPair: {
            crt: readPem(t.clientCertPath, 'TEMPORAL_TLS_CLIENT_CERT_PATH'),
            key: readPem(t.clientKeyPath, 'TEMPORAL_TLS_CLIENT_KEY_PATH'),
          },
        }
      : {}),
  };
  return {
    address: config.temporalAddress,
    ...(tls ? { tls } : {}),
    ...(config.temporalApiKey ? { apiKey: config.temporalApiKey } : {}),
  };
}

export async function connectClient(config: Config): Promise<Client> {
  const options = temporalConnectionOptions(config);
  try {
    const connection = await Connection.connect({ ...options, connectTimeout: '5s' });
    return new Client({ connection, namespace: config.temporalNamespace });
  } catch (e) {
    const how = options.tls ? ' over TLS' : '';
    throw new UserError(
      `cannot reach Temporal at ${config.temporalAddress}${how} (${(e as Error).message}); start it or fix TEMPORAL_ADDRESS` +
        (options.tls ? ' and the TEMPORAL_TLS_* settings' : ''),
    );
  }
}

/** TASK_QUEUE_TYPE_ACTIVITY: the host queue's activities are what only that host's worker can run. */
const ACTIVITY_QUEUE = 2;

/**
 * Identities of the workers that polled a task queue's activities within `withinMs`. Temporal keeps
 * a stopped worker in the list for minutes, so a poll older than a long-poll cycle means gone.
 */
export async function recentPollers(client: Client, taskQueue: string, withinMs = 90_000): Promise<string[]> {
  const r = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: ACTIVITY_QUEUE,
  });
  const seconds = (t: { seconds?: unknown } | null | undefined) => Number(t?.seconds ?? 0);
  return (r.pollers ?? [])
    .filter((p) => Date.now() - seconds(p.lastAccessTime) * 1000 <= withinMs)
    .map((p) => p.identity ?? '?');
}
