// Proves the archive: every WAL object present in every store with the recorded checksum (and,
// deep, bytes that hash to it), per-timeline continuity, and repair of a missing or corrupt copy
// from a healthy store: copied, then verified again. A copy that store's own retention removed
// is not missing, and copies that disagree with no catalog record to decide between them are a
// conflict for a human: nothing is repaired. Store-side work: any worker runs it.
import { Context } from '@temporalio/activity';
import { eq } from 'drizzle-orm';
import type { Catalog } from '../db/client';
import { DetailCounts, DetailWriter, firstDetails, readDetails, runOf } from '../db/rundetails';
import { walFiles } from '../db/schema';
import { readClusterIdentity } from '../lib/clusterjson';
import type { Logger } from '../lib/log';
import { chainOf } from '../lib/backupchain';
import { backupManifestKey, clusterJsonKey } from '../lib/keys';
import type { KeyRing } from '../lib/crypto/keyring';
import { findMatching, putMatching, readMatching, Reference } from '../lib/storecopy';
import type { Store } from '../lib/stores/store';
import { walNameOfKey } from '../lib/walkeys';
import type { WalVerdict } from '../lib/wal/keep';
import { parseWalName, segmentName, WalName } from '../lib/wal/name';
import { DETAIL_EXAMPLES, VERIFY_SECTIONS, VerifyReport, VerifySummary } from '../lib/contracts';
import { listBackups, storeWalKeep } from '../lib/storeinventory';

/** What a retried verifyArchive continues from: every key up to lastKey checked, its findings written. */
interface VerifyCheckpoint {
  lastKey: string;
  counts: DetailCounts;
  pruned: VerifyReport['pruned'];
}

const CHECKPOINT_EVERY = 500;

export function verifyActivities(
  stores: Map<string, Store>,
  ring: KeyRing | undefined,
  db: () => Catalog,
  log: Logger,
) {
  return {
    /** Writes every problem, repair and gap to the catalog (rundetails); returns counts and examples. A retry continues after the last checkpoint. */
    async verifyArchive({
      cluster,
      deep,
      repair,
    }: {
      cluster: string;
      deep: boolean;
      repair: boolean;
    }): Promise<VerifySummary> {
      const ctx = Context.current();
      const signal = ctx.cancellationSignal;
      const names = [...stores.keys()];
      const present = new Map<string, Map<string, number>>(); // key -> store -> size
      const retained = new Map<string, (wal: WalName) => WalVerdict>(); // store -> its keep rule
      // Where segment numbers wrap to the next xlog id depends on the cluster's segment size.
      const identity = await readClusterIdentity(stores.values(), cluster, signal);
      let segmentSize = identity?.segmentSize;
      const brokenChains: { key: string; store: string; problem: string }[] = [];
      for (const [name, store] of stores) {
        // The backups a store holds are the ones its retention kept: WAL none of them needs
        // was pruned there on purpose.
        const backups = (await listBackups(store, cluster, ring, signal)).complete.map((b) => b.manifest);
        const known = new Map(backups.map((b) => [b.backupId, b]));
        for (const b of backups) {
          const { missing } = chainOf(b.backupId, known);
          if (missing)
            brokenChains.push({
              key: backupManifestKey(cluster, b.backupId),
              store: name,
              problem: `incremental backup ${b.backupId} builds on ${missing}, which is not complete in this store: its chain is broken here`,
            });
        }
        segmentSize ??= backups[0]?.segmentSize;
        const { wal, keep } = await storeWalKeep(store, cluster, backups, segmentSize, ring, signal, log);
        retained.set(name, keep);
        for (const o of wal) {
          if (!present.has(o.key)) present.set(o.key, new Map());
          present.get(o.key)!.set(name, o.size);
        }
      }
      const recorded = new Map<string, Reference>();
      for (const r of await db()
        .select({ key: walFiles.key, sha256: walFiles.sha256, storedSize: walFiles.storedSize })
        .from(walFiles)
        .where(eq(walFiles.cluster, cluster))) {
        recorded.set(r.key, { sha256: r.sha256, storedSize: r.storedSize });
        if (!present.has(r.key)) present.set(r.key, new Map());
      }

      // Keys are checked in sorted order; the checkpoint says how far, and what was written.
      const checkpoint = ctx.info.heartbeatDetails as VerifyCheckpoint | undefined;
      const details = runOf(ctx);
      // Repairs made after the last checkpoint the server saw are done already: the retry finds
      // those copies healthy, so it carries their rows over rather than lose them.
      const carried = new Map<string, { section: 'problems' | 'repaired'; item: unknown }[]>();
      if (checkpoint) {
        for (const section of ['repaired', 'problems'] as const) {
          for await (const d of readDetails<{ key: string }>(
            db,
            details,
            section,
            (checkpoint.counts[section] ?? 0) - 1,
          )) {
            if (section === 'repaired') carried.set(d.item.key, []);
            carried.get(d.item.key)?.push({ section, item: d.item });
          }
        }
      }
      const writer = await DetailWriter.resume(db, details, VERIFY_SECTIONS, checkpoint?.counts);
      const pruned = checkpoint?.pruned ?? [];
      const tallyPruned = (store: string, reason: string) => {
        const p = pruned.find((x) => x.store === store);
        if (p) p.files++;
        else pruned.push({ store, files: 1, reason });
      };
      /** The stores that should hold a WAL object: those holding it, and those whose retention keeps it. */
      const expectedStores = (key: string, tally: boolean) => {
        const sizes = present.get(key)!;
        const wal = parseWalName(walNameOfKey(key) ?? '', segmentSize);
        return names.filter((s) => {
          if (sizes.has(s) || !wal) return true;
          const verdict = retained.get(s)!(wal);
          if (!verdict.keep && tally) tallyPruned(s, verdict.reason);
          return verdict.keep;
        });
      };
      /** Checks one key in every store that should hold it, and repairs it when it may. */
      const checkKey = async (key: string): Promise<void> => {
        const sizes = present.get(key)!;
        const wal = parseWalName(walNameOfKey(key) ?? '', segmentSize);
        const expected = expectedStores(key, true);
        if (!expected.length) return;
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
            writer.add('conflicts', { key, name: wal?.name ?? key, copies });
            writer.add('problems', {
              key,
              store: '*',
              problem: `copies differ (${Object.entries(copies)
                .map(([s, h]) => `${s} ${h}`)
                .join(', ')}) and no catalog record decides: nothing repaired`,
            });
            return;
          }
          if (distinct.size === 1) ref = { sha256: [...distinct][0], storedSize: undefined };
        }
        if (!ref) {
          writer.add('problems', { key, store: '*', problem: 'no copy carries walflow metadata' });
          writer.add('unrepairable', key);
          return;
        }

        const bad: { store: string; problem: string }[] = [];
        for (const s of expected) {
          const store = stores.get(s)!;
          if (!sizes.has(s)) {
            bad.push({ store: s, problem: 'missing' });
            continue;
          }
          const head = await store.head(key, signal);
          if (!head?.meta) bad.push({ store: s, problem: 'no metadata' });
          else if (head.meta.sha256 !== ref.sha256)
            bad.push({ store: s, problem: `checksum metadata ${head.meta.sha256} is not ${ref.sha256}` });
          else if (ref.storedSize !== undefined && head.size !== ref.storedSize)
            bad.push({ store: s, problem: `size ${head.size} is not ${ref.storedSize}` });
          else if (deep && !(await readMatching(store, key, ref, ring, signal)))
            bad.push({ store: s, problem: 'content does not authenticate or hash to its checksum' });
        }
        for (const b of bad) writer.add('problems', { key, ...b });
        if (!bad.length) {
          for (const c of carried.get(key) ?? []) writer.add(c.section, c.item);
          return;
        }
        if (!repair) {
          writer.add('unrepairable', key);
          return;
        }

        const healthy = names.filter((n) => !bad.some((b) => b.store === n)).map((n) => stores.get(n)!);
        const source = await findMatching(healthy, key, ref, ring, signal);
        if (!source) {
          writer.add('unrepairable', key);
          return;
        }
        for (const b of bad) {
          const store = stores.get(b.store)!;
          if (b.problem !== 'missing') await store.delete(key, signal); // corrupt: a verified copy exists elsewhere
          if (await putMatching(store, key, source, ref, ring, signal)) {
            writer.add('repaired', { key, store: b.store, problem: b.problem });
            await writer.flush(); // a repair is done at once: its row must not wait for the next checkpoint
            log.warn({ cluster, key, store: b.store, problem: b.problem }, 'repaired a WAL copy from a healthy store');
          } else {
            writer.add('unrepairable', key);
          }
        }
      };
      const sorted = [...present.keys()].sort();
      let checked = checkpoint ? sorted.findIndex((k) => k > checkpoint.lastKey) : 0;
      if (checked < 0) checked = sorted.length;
      if (checkpoint)
        log.info(
          { cluster, after: checkpoint.lastKey, checked, of: sorted.length },
          'verify continues after its last checkpoint',
        );
      // Every key beats (a deep check downloads each copy); every CHECKPOINT_EVERY keys, what was
      // found goes to the catalog and the beat says the keys up to there are done.
      let saved: VerifyCheckpoint = checkpoint ?? { lastKey: '', counts: {}, pruned: [] };
      const save = async (lastKey: string) => {
        saved = { lastKey, counts: await writer.flush(), pruned: structuredClone(pruned) };
        ctx.heartbeat({ ...saved, checked, of: present.size });
      };
      for (const key of sorted.slice(checked)) {
        await checkKey(key);
        if (++checked % CHECKPOINT_EVERY === 0) await save(key);
        else ctx.heartbeat({ ...saved, checked, of: present.size });
      }
      if (sorted.length) await save(sorted[sorted.length - 1]);
      // Gaps and the cluster.json problem come after the last checkpoint: a retry finds them again.
      const lost = new Set(sorted.filter((k) => present.get(k)!.size === 0 && expectedStores(k, false).length > 0));
      if (identity) {
        for (const g of findGaps(
          sorted.filter((k) => !lost.has(k)),
          identity.segmentSize,
        ))
          writer.add('gaps', g);
      } else if (present.size) {
        writer.add('problems', {
          key: clusterJsonKey(cluster),
          store: '*',
          problem: 'missing: without its segment size, gaps cannot be checked',
        });
      }
      for (const p of brokenChains) writer.add('problems', p);
      await writer.flush();
      const summary: VerifySummary = {
        objects: present.size,
        stores: names,
        deep,
        pruned,
        details,
        problems: [],
        repaired: [],
        unrepairable: [],
        conflicts: [],
        gaps: [],
        counts: Object.fromEntries(VERIFY_SECTIONS.map((s) => [s, writer.count(s)])) as VerifySummary['counts'],
      };
      for (const section of VERIFY_SECTIONS)
        (summary[section] as unknown[]) = await firstDetails(db, details, section, DETAIL_EXAMPLES);
      return summary;
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
        gaps.push({
          timeline: tli,
          from: segmentName(tli, sorted[i - 1] + 1n, segmentSize),
          to: segmentName(tli, sorted[i] - 1n, segmentSize),
        });
      }
    }
  }
  return gaps;
}
