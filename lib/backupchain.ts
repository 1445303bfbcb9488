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

export interface ParentCandidate extends Chained {
  startTime: string;
  stopTime: string;
  pgVersion: number;
}

/**
 * The backup the next incremental builds on: the newest of `everywhere` (complete, with its
 * backup_manifest, in every store). None, so a full backup, when there is no such backup, when it
 * is older than PostgreSQL 17, or when its chain began `fullEveryMs` or longer before `now`.
 */
export function parentFor(
  everywhere: ParentCandidate[],
  known: Map<string, Chained & { startTime: string }>,
  fullEveryMs: number | undefined,
  now: string,
): { parent?: string; reason: string } {
  const newest = [...everywhere].sort((a, b) => b.stopTime.localeCompare(a.stopTime))[0];
  if (!newest) return { reason: 'no backup is complete, with its backup_manifest, in every store' };
  if (newest.pgVersion < 170000)
    return { reason: `the newest backup, ${newest.backupId}, is of PostgreSQL ${newest.pgVersion}, older than 17` };
  const root = known.get(chainRoot(newest.backupId, known)) ?? newest;
  if (fullEveryMs !== undefined && Date.parse(now) - Date.parse(root.startTime) >= fullEveryMs)
    return { reason: `the newest chain began with ${root.backupId} at ${root.startTime}: a full backup is due` };
  return { parent: newest.backupId, reason: `incremental on ${newest.backupId} (chain from ${root.backupId})` };
}
