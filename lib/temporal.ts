// Temporal client connection from config, with a message that says what to do when it fails.
import { Client, Connection } from '@temporalio/client';
import type { Config } from './config';
import { clusterQueue } from './contracts';
import { UserError } from './errors';

export async function connectClient(config: Config): Promise<Client> {
  try {
    const connection = await Connection.connect({ address: config.temporalAddress, connectTimeout: '5s' });
    return new Client({ connection, namespace: config.temporalNamespace });
  } catch (e) {
    throw new UserError(
      `cannot reach Temporal at ${config.temporalAddress} (${(e as Error).message}); start it or fix TEMPORAL_ADDRESS`,
    );
  }
}

/** TASK_QUEUE_TYPE_WORKFLOW and TASK_QUEUE_TYPE_ACTIVITY. */
const WORKFLOW_QUEUE = 1;
const ACTIVITY_QUEUE = 2;

/**
 * Identities of the workers that polled a task queue's activities within `withinMs`. Temporal keeps
 * a stopped worker in the list for minutes, so a poll older than a long-poll cycle means gone.
 */
export async function recentPollers(
  client: Client,
  taskQueue: string,
  withinMs = 90_000,
  taskQueueType = ACTIVITY_QUEUE,
): Promise<string[]> {
  const r = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue },
    taskQueueType,
  });
  const seconds = (t: { seconds?: unknown } | null | undefined) => Number(t?.seconds ?? 0);
  return (r.pollers ?? [])
    .filter((p) => Date.now() - seconds(p.lastAccessTime) * 1000 <= withinMs)
    .map((p) => p.identity ?? '?');
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
