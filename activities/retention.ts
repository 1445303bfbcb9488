// Retention decided from backups, never from WAL age alone: per store, keep every complete
// backup younger than its retention period and at least the newest N (the run's policy, from
// its input: never this worker's settings); delete the WAL no kept backup needs along its
// timelines (lib/wal/keep.ts), and the backups not kept (manifest first, so a half-deleted
// backup never looks complete). History files are never deleted. Planning and deleting are
// separate steps, so a dry run shows exactly what the real run deletes.
import { Context } from '@temporalio/activity';
import { and, eq, notExists, sql } from 'drizzle-orm';
import type { Catalog } from '../db/client';
import {
  DetailCounts,
  DetailWriter,
  dropDetailsOlderThan,
  DETAILS_KEPT_DAYS,
  readDetails,
  runOf,
} from '../db/rundetails';
import { backups, owedCopies, walCopies, walFiles } from '../db/schema';
import { withAncestors } from '../lib/backupchain';
import { backupOfKey, walPrefix } from '../lib/keys';
import type { Logger } from '../lib/log';
import type { Store } from '../lib/stores/store';
import type { KeyRing } from '../lib/crypto/keyring';
import { walNameOfKey } from '../lib/walkeys';
import { tallyKept } from '../lib/wal/keep';
import { listBackups, storeWalKeep } from '../lib/storeinventory';
import { Deletion, deletionSection, DETAIL_EXAMPLES, RetentionPlan, StorePlan } from '../lib/contracts';
import { RetentionPolicy, storeRetentionDays } from '../lib/clusterpolicy';

const DAY = 86_400_000;

/** What a retried planRetention continues from: the stores planned, and the deletions written for them. */
interface PlanCheckpoint {
  done: StorePlan[];
  counts: DetailCounts;
}
/** What a retried applyRetention continues from: the last deletion made. */
interface ApplyCheckpoint {
  store: string;
  seq: number;
  deleted: number;
}

export function retentionActivities(
  stores: Map<string, Store>,
  ring: KeyRing | undefined,
  db: () => Catalog,
  log: Logger,
) {
  return {
    /** Writes each deletion to the catalog (rundetails) and returns counts and examples; a retry continues after the last store planned. */
    async planRetention({
      cluster,
      now: nowText,
      policy,
    }: {
      cluster: string;
      now: string;
      policy: RetentionPolicy;
    }): Promise<RetentionPlan> {
      const ctx = Context.current();
      const signal = ctx.cancellationSignal;
      const now = new Date(nowText).getTime();
      const { minBackups } = policy;
      const details = runOf(ctx);
      const checkpoint = ctx.info.heartbeatDetails as PlanCheckpoint | undefined;
      const plans: StorePlan[] = checkpoint?.done ?? [];
      const writer = await DetailWriter.resume(
        db,
        details,
        [...stores.keys()].map(deletionSection),
        checkpoint?.counts,
      );
      let counts = checkpoint?.counts ?? {};
      if (checkpoint)
        log.info(
          { cluster, planned: plans.map((p) => p.store) },
          'retention planning continues after the stores already planned',
        );
      for (const [name, store] of stores) {
        if (plans.some((p) => p.store === name)) continue;
        const section = deletionSection(name);
        const plan: StorePlan = {
          store: name,
          retentionDays: 0,
          kept: [],
          deletionCount: 0,
          firstDeletions: [],
          keptWal: [],
          blocked: null,
          newestBackup: null,
        };
        const remove = (d: Deletion) => {
          writer.add(section, d);
          if (plan.firstDeletions.length < DETAIL_EXAMPLES) plan.firstDeletions.push(d);
        };
        const days = storeRetentionDays(policy, name);
        const { complete, incomplete } = await listBackups(store, cluster, ring, signal);
        Object.assign(plan, { retentionDays: days, newestBackup: complete[0]?.manifest.stopTime ?? null });
        const young = complete.filter((b, i) => i < minBackups || now - Date.parse(b.manifest.stopTime) <= days * DAY);
        // A kept incremental restores only on top of its parent, and that parent on its own.
        const chained = withAncestors(
          young.map((b) => b.manifest.backupId),
          new Map(complete.map((b) => [b.manifest.backupId, b.manifest])),
        );
        const kept = complete.filter((b) => chained.has(b.manifest.backupId));
        plan.kept = kept.map((b) => b.manifest.backupId);
        for (const b of complete.filter((b) => !kept.includes(b))) {
          const why = `backup ${b.manifest.backupId} finished ${b.manifest.stopTime}: older than ${days} days, not among the newest ${minBackups}, and no kept incremental builds on it`;
          for (const key of b.keys) remove({ key, reason: why });
        }
        for (const b of incomplete.filter((b) => now - b.newest > days * DAY)) {
          for (const key of b.keys)
            remove({ key, reason: `unfinished backup ${b.id} (no manifest), untouched for over ${days} days` });
        }
        if (!kept.length) {
          plan.blocked = `no complete backup in ${name}: all WAL is kept, since WAL alone restores nothing`;
        } else {
          const beat = (listed: number) => ctx.heartbeat({ done: plans, counts, planning: name, listed });
          const { wal, keep } = await storeWalKeep(
            store,
            cluster,
            kept.map((b) => b.manifest),
            kept[0].manifest.segmentSize,
            ring,
            signal,
            log,
            beat,
          );
          for (const w of wal) {
            const verdict = keep(w.name);
            if (!verdict.keep) remove({ key: w.key, reason: verdict.reason });
            else if (w.name.kind !== 'history') tallyKept(plan.keptWal, w.name, verdict.reason);
          }
        }
        counts = await writer.flush();
        plan.deletionCount = writer.count(section);
        plans.push(plan);
        ctx.heartbeat({ done: plans, counts } satisfies PlanCheckpoint);
      }
      return { cluster, now: nowText, minBackups, policy, stores: plans, details };
    },

    /** Deletes exactly what the plan lists, in its order; deleting something already gone is fine, so a retry continues after its last beat. */
    async applyRetention({ plan }: { plan: RetentionPlan }): Promise<number> {
      const ctx = Context.current();
      const checkpoint = ctx.info.heartbeatDetails as ApplyCheckpoint | undefined;
      let deleted = checkpoint?.deleted ?? 0;
      let reached = !checkpoint;
      if (checkpoint) log.info({ cluster: plan.cluster, ...checkpoint }, 'retention continues after its last deletion');
      for (const p of plan.stores) {
        reached ||= p.store === checkpoint!.store;
        if (!reached) continue;
        const store = stores.get(p.store)!;
        const after = p.store === checkpoint?.store ? checkpoint.seq : -1;
        for await (const { seq, item: d } of readDetails<Deletion>(db, plan.details, deletionSection(p.store), after)) {
          await store.delete(d.key, ctx.cancellationSignal);
          await forgetCopy(plan.cluster, p.store, d.key);
          ctx.heartbeat({ store: p.store, seq, deleted: ++deleted } satisfies ApplyCheckpoint);
        }
      }
      // A WAL file no store holds any more leaves the catalog too.
      await db()
        .delete(walFiles)
        .where(
          and(
            eq(walFiles.cluster, plan.cluster),
            sql`${walFiles.kind} <> 'history'`,
            notExists(
              db()
                .select({ one: sql`1` })
                .from(walCopies)
                .where(and(eq(walCopies.cluster, walFiles.cluster), eq(walCopies.name, walFiles.name))),
            ),
          ),
        );
      // Nor is a copy of it owed any more: no store holds one to copy from, and no kept backup needs it.
      await db()
        .delete(owedCopies)
        .where(
          and(
            eq(owedCopies.cluster, plan.cluster),
            notExists(
              db()
                .select({ one: sql`1` })
                .from(walFiles)
                .where(and(eq(walFiles.cluster, owedCopies.cluster), eq(walFiles.name, owedCopies.name))),
            ),
          ),
        );
      await dropDetailsOlderThan(db, new Date(Date.now() - DETAILS_KEPT_DAYS * DAY));
      log.info({ cluster: plan.cluster, deleted }, 'retention applied');
      return deleted;
    },
  };

  /** What the catalog says a store holds, after deleting `key` from it. */
  async function forgetCopy(cluster: string, store: string, key: string): Promise<void> {
    const name = walNameOfKey(key);
    if (name && key.startsWith(walPrefix(cluster))) {
      await db()
        .delete(walCopies)
        .where(and(eq(walCopies.cluster, cluster), eq(walCopies.name, name), eq(walCopies.store, store)));
    }
    // A backup whose manifest left a store no longer counts there; once in no store, it expired.
    const backup = backupOfKey(cluster, key);
    if (backup?.isManifest) {
      const backupId = backup.backupId;
      await db()
        .update(backups)
        .set({
          stores: sql`coalesce(${backups.stores}, '[]'::jsonb) - ${store}::text`,
          status: sql`CASE WHEN coalesce(${backups.stores}, '[]'::jsonb) - ${store}::text = '[]'::jsonb THEN 'expired' ELSE ${backups.status} END`,
        })
        .where(and(eq(backups.cluster, cluster), eq(backups.backupId, backupId)));
    }
  }
}
