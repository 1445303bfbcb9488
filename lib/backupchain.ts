// Chains of backups: an incremental restores only on top of its parent, which may itself be an
// incremental, down to a full backup. Pure: callers say which backups they can see.

export interface Chained {
  backupId: string;
  /** Absent for a full backup. */
  parent?: string;
}

/** The chain that restores `backupId`, full backup first; `missing` names the first link none of `known` has. */
export function chainOf(backupId: string, known: Map<string, Chained>): { chain: string[]; missing?: string } {
  const chain: string[] = [];
  for (let id: string | undefined = backupId; id !== undefined; id = known.get(id)?.parent) {
    if (chain.includes(id))
      throw new Error(`backup ${id} is its own ancestor: its manifests were not written by walflow`);
    if (!known.has(id)) return { chain: chain.reverse(), missing: id };
    chain.push(id);
  }
  return { chain: chain.reverse() };
}

/** `kept` plus every backup a kept incremental builds on, so no kept incremental outlives its parent. */
export function withAncestors(kept: string[], known: Map<string, Chained>): Set<string> {
  const out = new Set<string>();
  for (const id of kept) for (const link of chainOf(id, known).chain) out.add(link);
  return out;
}

/** The full backup a chain starts from: the oldest link that `known` holds. */
export function chainRoot(backupId: string, known: Map<string, Chained>): string {
  return chainOf(backupId, known).chain[0] ?? backupId;
}
