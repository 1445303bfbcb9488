// How every walflow workflow is started, from the CLI, the watcher, Schedules or a parent
// workflow: on its cluster's (or host's) task queue, with a readable id, a memo, and the search
// attributes that let the Web UI and `temporal workflow list` filter by cluster, host, kind and
// object. Free of run-time imports: workflow code starts children with it.
import type { SearchAttributePair } from '@temporalio/common';
import { clusterQueue, hostQueue } from './contracts';

/** Custom search attributes; each must be registered once per namespace (lib/searchattributes.ts). */
export const SEARCH_ATTRIBUTES = {
  cluster: { name: 'WalflowCluster', type: 'KEYWORD' },
  host: { name: 'WalflowHost', type: 'KEYWORD' },
  kind: { name: 'WalflowKind', type: 'KEYWORD' },
  /** The WAL file or backup id a run is about. */
  object: { name: 'WalflowObject', type: 'KEYWORD' },
} as const;

export type WorkflowKind =
  | 'archive'
  | 'archive-sweep'
  | 'backup'
  | 'restore'
  | 'retention'
  | 'verify'
  | 'drill'
  | 'checks'
  | 'alert'
  | 'owed-copies';

export interface StartFacts {
  kind: WorkflowKind;
  cluster: string;
  workflowId: string;
  host?: string;
  object?: string;
  /** Runs on the host's queue (it touches the spool there) rather than the cluster's. */
  onHost?: boolean;
  memo?: Record<string, unknown>;
}

export function searchAttributes(f: Omit<StartFacts, 'workflowId'>): SearchAttributePair[] {
  const { cluster, host, kind, object } = SEARCH_ATTRIBUTES;
  return [
    { key: cluster, value: f.cluster },
    { key: kind, value: f.kind },
    ...(f.host ? [{ key: host, value: f.host }] : []),
    ...(f.object ? [{ key: object, value: f.object }] : []),
  ];
}

export function startOptions(f: StartFacts) {
  if (f.onHost && !f.host) throw new Error(`${f.kind} runs on a host queue: name the host`);
  return {
    taskQueue: f.onHost ? hostQueue(f.cluster, f.host!) : clusterQueue(f.cluster),
    workflowId: f.workflowId,
    memo: { cluster: f.cluster, ...(f.host ? { host: f.host } : {}), ...f.memo },
    typedSearchAttributes: searchAttributes(f),
  };
}
