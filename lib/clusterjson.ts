// <cluster>/cluster.json: what each store records about the cluster whose WAL it holds, written
// with the first segment it receives. Segment names mean segment numbers only with its size.
import { CLUSTER_JSON_FORMAT, requireKnownFormat } from './formats';
import { clusterJsonKey } from './keys';
import type { Store } from './stores/store';
import { readFromAnyStore } from './verified';

export interface ClusterIdentity {
  format?: typeof CLUSTER_JSON_FORMAT;
  cluster: string;
  systemIdentifier: string;
  pgVersion: number | null;
  segmentSize: number;
  createdAt: string;
}

export function parseClusterJson(raw: Buffer, cluster: string): ClusterIdentity {
  const identity = JSON.parse(raw.toString()) as ClusterIdentity;
  requireKnownFormat(`cluster.json of ${cluster}`, identity.format, CLUSTER_JSON_FORMAT, true);
  return identity;
}

/** From the first store with a verified copy; undefined when every store says it has none (no segment archived yet). */
export async function readClusterIdentity(
  stores: Iterable<Store>,
  cluster: string,
  signal?: AbortSignal,
): Promise<ClusterIdentity | undefined> {
  const all = [...stores];
  const { found, errors } = await readFromAnyStore(all, [clusterJsonKey(cluster)], undefined, signal);
  if (found) return parseClusterJson(found.raw, cluster);
  if (errors.length === all.length)
    throw new Error(`no store could be read for ${clusterJsonKey(cluster)}: ${errors.join('; ')}`);
  return undefined;
}
