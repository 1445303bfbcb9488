// The largest payload in a workflow's history: inputs, results, memos, heartbeat and failure
// details. Payloads that grow with the archive show up here first.
import type { Client } from '@temporalio/client';

export interface LargestPayload {
  workflowId: string;
  bytes: number;
  where: string;
}

export async function largestPayload(client: Client, workflowId: string): Promise<LargestPayload> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  let largest: LargestPayload = { workflowId, bytes: 0, where: 'none' };
  const walk = (node: unknown, where: string): void => {
    if (!node || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    if (o.data instanceof Uint8Array && 'metadata' in o) {
      if (o.data.length > largest.bytes) largest = { workflowId, bytes: o.data.length, where };
      return;
    }
    for (const [k, v] of Object.entries(o)) walk(v, `${where}.${k}`);
  };
  for (const e of history.events ?? []) walk(e, String(e.eventType));
  return largest;
}

/** Ids of this cluster's workflows of a type, as the Web UI lists them (ids start with `<type>/<cluster>/`). */
export async function workflowIds(client: Client, type: string, cluster: string): Promise<string[]> {
  const found: string[] = [];
  for await (const w of client.workflow.list({ query: `WorkflowType = '${type}'` })) {
    if (w.workflowId.startsWith(`${type}/${cluster}/`)) found.push(w.workflowId);
  }
  return found;
}
