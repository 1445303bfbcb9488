// Temporal for the CLI: the client connection, and a failed workflow turned into a message,
// each saying what to do.
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import type { Config } from './config';
import { UserError } from './errors';
import { temporalUnreachable } from './unreachable';
import { POLL_CYCLE_MS } from './hostchecks';

export async function connectClient(config: Config): Promise<Client> {
  try {
    const connection = await Connection.connect({ address: config.temporalAddress, connectTimeout: '5s' });
    return new Client({ connection, namespace: config.temporalNamespace });
  } catch (e) {
    throw temporalUnreachable(config.temporalAddress, (e as Error).message);
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

/** TASK_QUEUE_TYPE_ACTIVITY: the host queue's activities are what only that host's worker can run. */
const ACTIVITY_QUEUE = 2;

async function pollers(client: Client, taskQueue: string): Promise<{ identity: string; ageMs: number }[]> {
  const r = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: ACTIVITY_QUEUE,
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
export async function recentPollers(client: Client, taskQueue: string, withinMs = POLL_CYCLE_MS): Promise<string[]> {
  return (await pollers(client, taskQueue)).filter((p) => p.ageMs <= withinMs).map((p) => p.identity);
}

/** How long ago any worker last polled a task queue's activities; null when Temporal lists none. */
export async function lastPollAgeMs(client: Client, taskQueue: string): Promise<number | null> {
  const ages = (await pollers(client, taskQueue)).map((p) => p.ageMs);
  return ages.length ? Math.min(...ages) : null;
}
