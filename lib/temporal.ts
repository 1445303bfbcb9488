// Temporal for the CLI and the worker: connections from config (the address, TLS and API key
// in one place), and a failed workflow turned into a message, each saying what to do.
import * as fs from 'node:fs';
import { Client, Connection, type TLSConfig, WorkflowFailedError } from '@temporalio/client';
import type { Config } from './config';
import { clusterQueue, sweepScheduleId } from './contracts';
import { UserError } from './errors';
import { temporalUnreachable } from './unreachable';
import { POLL_CYCLE_MS } from './hostchecks';

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
    throw temporalUnreachable(config.temporalAddress, (e as Error).message, Boolean(options.tls));
  }
}

/**
 * What a workflow's failure says went wrong: the innermost cause (an activity's own error),
 * not the wrappers around it ("Activity task failed", "Workflow execution failed").
 */
export function failureMessage(e: unknown): string {
  let message = e instanceof Error ? e.message : String(e);
  for (let c = e instanceof Error ? e.cause : undefined; c instanceof Error; c = c.cause)
    if (c.message) message = c.message;
  return message.replace(/\s*\n\s*/g, ' | ');
}

/** Runs `wait` (a workflow's result); a failed workflow becomes one line: what failed, why, where to look. */
export async function workflowOutcome<T>(what: string, workflowId: string, wait: Promise<T>): Promise<T> {
  try {
    return await wait;
  } catch (e) {
    if (e instanceof WorkflowFailedError)
      throw new UserError(
        `${what} failed: ${failureMessage(e)} (see the workflow ${workflowId} in the Temporal Web UI, and 'walflow alerts')`,
      );
    throw e;
  }
}

/** TASK_QUEUE_TYPE_WORKFLOW and TASK_QUEUE_TYPE_ACTIVITY. */
const WORKFLOW_QUEUE = 1;
const ACTIVITY_QUEUE = 2;

async function pollers(
  client: Client,
  taskQueue: string,
  taskQueueType = ACTIVITY_QUEUE,
): Promise<{ identity: string; ageMs: number }[]> {
  const r = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue },
    taskQueueType,
  });
  const seconds = (t: { seconds?: unknown } | null | undefined) => Number(t?.seconds ?? 0);
  return (r.pollers ?? []).map((p) => ({
    identity: p.identity ?? '?',
    ageMs: Date.now() - seconds(p.lastAccessTime) * 1000,
  }));
}

/**
 * Identities of the workers that polled a task queue's activities within `withinMs`. Temporal keeps
 * a stopped worker in the list for minutes, so a poll older than a long-poll cycle means gone.
 */
export async function recentPollers(
  client: Client,
  taskQueue: string,
  withinMs = POLL_CYCLE_MS,
  taskQueueType = ACTIVITY_QUEUE,
): Promise<string[]> {
  return (await pollers(client, taskQueue, taskQueueType)).filter((p) => p.ageMs <= withinMs).map((p) => p.identity);
}

/** The hosts of a cluster: every host's worker keeps its archive-sweep Schedule, until the host is retired. */
export async function clusterHosts(client: Client, cluster: string): Promise<string[]> {
  const prefix = sweepScheduleId(cluster, '');
  const hosts: string[] = [];
  for await (const s of client.schedule.list())
    if (s.scheduleId.startsWith(prefix)) hosts.push(s.scheduleId.slice(prefix.length));
  return hosts.sort();
}

/** How long ago any worker last polled a task queue's activities; null when Temporal lists none. */
export async function lastPollAgeMs(client: Client, taskQueue: string): Promise<number | null> {
  const ages = (await pollers(client, taskQueue)).map((p) => p.ageMs);
  return ages.length ? Math.min(...ages) : null;
}

/**
 * Before a start from the CLI: a workflow on a queue no worker polls would wait, silently, until
 * one does; better to say now which cluster lacks a worker.
 */
export async function requireClusterWorker(client: Client, cluster: string): Promise<void> {
  const queue = clusterQueue(cluster);
  if ((await recentPollers(client, queue, undefined, WORKFLOW_QUEUE)).length) return;
  throw new UserError(
    `no running worker serves cluster ${cluster} (task queue ${queue}): start 'walflow worker' with this cluster's settings on one of its hosts`,
  );
}
