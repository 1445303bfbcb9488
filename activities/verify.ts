// Proves the archive: every WAL object present in every store with the recorded checksum (and,
// deep, bytes that hash to it), per-timeline continuity, and repair of a missing or corrupt copy
// from a healthy store: copied, then verified again. A copy that store's own retention removed
// is not missing, and copies that disagree with no catalog record to decide between them are a
// conflict for a human: nothing is repaired. Store-side work: any worker runs it.
import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { eq } from 'drizzle-orm';
import type { Catalog } from '../db/client';
import { walFiles } from '../db/schema';
import { readClusterIdentity } from '../lib/clusterjson';
import { codecByName } from '../lib/codec';
import type { Logger } from '../lib/log';
import { clusterJsonKey } from '../lib/keys';
import { ObjectMeta, Store } from '../lib/stores/store';
import { walNameOfKey } from '../lib/walkeys';
import type { WalVerdict } from '../lib/wal/keep';
import { parseWalName, segmentName, WalName } from '../lib/wal/name';
import type { VerifyReport } from '../workflows/shared';
import { listBackups, storeWalKeep } from './retention';

interface Reference { sha256: string; storedSize: number | undefined }

export function verifyActivities(stores: Map<string, Store>, db: () => Catalog, log: Logger) {
  /** Downloads a copy and checks that its raw bytes hash to the reference. */
  async function readVerified(store: Store, key: string, ref: Reference, signal: AbortSignal): Promise<{ body: Buffer; meta: ObjectMeta } | undefined> {
    const head = await store.head(key, signal);
    if (!head?.meta || head.meta.sha256 !== ref.sha256) return undefined;
    const body = await store.get(key, signal);
    const raw = await codecByName(head.meta.codec).decompress(body).catch(() => undefined);
    if (!raw || createHash('sha256').update(raw).digest('hex') !== ref.sha256) return undefined;
    return { body, meta: head.meta };
  }

  return {
    async verifyArchive({ cluster, deep, repair }: { cluster: string; deep: boolean; repair: boolean }): Promise<VerifyReport> {
      const ctx = Context.current();
      const signal = ctx.cancellationSignal;
      const names = [...stores.keys()];
      const present = new Map<string, Map<string, number>>(); // key -> store -> size
      const retained = new Map<string, (wal: WalName) => WalVerdict>(); // store -> its keep rule
      // Where segment numbers wrap to the next xlog id depends on the cluster's segment size.
      const identity = await readClusterIdentity(stores.values(), cluster, signal);
      let segmentSize = identity?.segmentSize;
      for (const [name, store] of stores) {
        // The backups a store holds are the ones its retention kept: WAL none of them needs
        // was pruned there on purpose.
        const backups = (await listBackups(store, cluster, signal)).complete.map((b) => b.manifest);
        segmentSize ??= backups[0]?.segmentSize;
        const { wal, keep } = await storeWalKeep(store, cluster, backups, segmentSize, signal, log);
        retained.set(name, keep);
        for (const o of wal) {
          if (!present.has(o.key)) present.set(o.key, new Map());
          present.get(o.key)!.set(name, o.size);
        }
      }
      const recorded = new Map<string, Reference>();
      for (const r of await db().select({ key: walFiles.key, sha256: walFiles.sha256, storedSize: walFiles.storedSize }).from(walFiles).where(eq(walFiles.cluster, cluster))) {
        recorded.set(r.key, { sha256: r.sha256, storedSize: r.storedSize });
        if (!present.has(r.key)) present.set(r.key, new Map());
      }

      const report: VerifyReport = { objects: present.size, stores: names, deep, problems: [], repaired: [], unrepairable: [], conflicts: [], pruned: [], gaps: [] };
      const pruned = (store: string, reason: string) => {
        const p = report.pruned.find((x) => x.store === store);
        if (p) p.files++;
        else report.pruned.push({ store, files: 1, reason });
      };
      let checked = 0;
      for (const key of [...present.keys()].sort()) {
        if (++checked % 50 === 0) ctx.heartbeat({ checked, of: present.size });
        const sizes = present.get(key)!;
        const wal = parseWalName(walNameOfKey(key) ?? '', segmentSize);
        const expected = names.filter((s) => {
          if (sizes.has(s) || !wal) return true;
          const verdict = retained.get(s)!(wal);
          if (!verdict.keep) pruned(s, verdict.reason);
          return verdict.keep;
        });
        if (!expected.length) continue;
        let ref = recorded.get(key);
        if (!ref) {
          // Not in the catalog (lost, or archived before it): the copies' metadata must agree,
          // since nothing else says which copy is right.
          const copies: Record<string, string> = {};
          for (const s of names) {
            const h = sizes.has(s) ? await stores.get(s)!.head(key, signal) : undefined;
            if (h?.meta) copies[s] = h.meta.sha256;
          }
          const distinct = new Set(Object.values(copies));
          if (distinct.size > 1) {
            report.conflicts.push({ key, name: wal?.name ?? key, copies });
            report.problems.push({ key, store: '*', problem: `copies differ (${Object.entries(copies).map(([s, h]) => `${s} ${h}`).join(', ')}) and no catalog record decides: nothing repaired` });
            continue;
          }
          if (distinct.size === 1) ref = { sha256: [...distinct][0], storedSize: undefined };
        }
        if (!ref) { report.problems.push({ key, store: '*', problem: 'no copy carries walflow metadata' }); report.unrepairable.push(key); continue; }

        const bad: { store: string; problem: string }[] = [];
        for (const s of expected) {
          const store = stores.get(s)!;
          if (!sizes.has(s)) { bad.push({ store: s, problem: 'missing' }); continue; }
          const head = await store.head(key, signal);
          if (!head?.meta) bad.push({ store: s, problem: 'no metadata' });
          else if (head.meta.sha256 !== ref.sha256) bad.push({ store: s, problem: `checksum metadata ${head.meta.sha256} is not ${ref.sha256}` });
          else if (ref.storedSize !== undefined && head.size !== ref.storedSize) bad.push({ store: s, problem: `size ${head.size} is not ${ref.storedSize}` });
          else if (deep && !(await readVerified(store, key, ref, signal))) bad.push({ store: s, problem: 'content does not hash to its checksum' });
        }
        for (const b of bad) report.problems.push({ key, ...b });
        if (!bad.length || !repair) { if (bad.length) report.unrepairable.push(key); continue; }

        let source: { body: Buffer; meta: ObjectMeta } | undefined;
        for (const s of names.filter((n) => !bad.some((b) => b.store === n))) {
          source = await readVerified(stores.get(s)!, key, ref, signal);
          if (source) break;
        }
        if (!source) { report.unrepairable.push(key); continue; }
        for (const b of bad) {
          const store = stores.get(b.store)!;
          if (b.problem !== 'missing') await store.delete(key, signal); // corrupt: a verified copy exists elsewhere
          await store.putNew(key, source.body, source.meta, signal);
          if (await readVerified(store, key, ref, signal)) {
            report.repaired.push({ key, store: b.store, problem: b.problem });
            log.warn({ cluster, key, store: b.store, problem: b.problem }, 'repaired a WAL copy from a healthy store');
          } else {
            report.unrepairable.push(key);
          }
        }
      }
      const lost = new Set(report.unrepairable.filter((k) => present.get(k)!.size === 0));
      if (identity) report.gaps = findGaps([...present.keys()].filter((k) => !lost.has(k)), identity.segmentSize);
      else if (present.size) report.problems.push({ key: clusterJsonKey(cluster), store: '*', problem: 'missing: without its segment size, gaps cannot be checked' });
      return report;
    },
  };
}

/** Per timeline, the segments missing between the oldest and newest one present. */
export function findGaps(keys: string[], segmentSize: number): { timeline: number; from: string; to: string }[] {
  const byTimeline = new Map<number, Set<bigint>>();
  for (const key of keys) {
    const wal = parseWalName(walNameOfKey(key) ?? '', segmentSize);
    if (!wal || wal.segno === undefined || wal.kind === 'backup') continue;
    if (!byTimeline.has(wal.timeline)) byTimeline.set(wal.timeline, new Set());
    byTimeline.get(wal.timeline)!.add(wal.segno);
  }
  const gaps: { timeline: number; from: string; to: string }[] = [];
  for (const [tli, segs] of [...byTimeline].sort((a, b) => a[0] - b[0])) {
    const sorted = [...segs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i] - sorted[i - 1] > 1n) {
        gaps.push({ timeline: tli, from: segmentName(tli, sorted[i - 1] + 1n, segmentSize), to: segmentName(tli, sorted[i] - 1n, segmentSize) });
      }
    }
  }
  return gaps;
}
