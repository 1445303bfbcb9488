// Copies owed to a store (files that left a full spool before it took them), made store to
// store from a verified copy elsewhere, as verify repairs a missing copy. Store-side work: any
// worker runs it.
import { Context } from '@temporalio/activity';
import { and, asc, count, eq } from 'drizzle-orm';
import type { Catalog } from '../db/client';
import { owedCopies, walCopies, walFiles } from '../db/schema';
import { owedPerStore } from '../db/reports';
import type { Logger } from '../lib/log';
import type { KeyRing } from '../lib/crypto/keyring';
import { findMatching, putMatching, readMatching } from '../lib/storecopy';
import type { Store } from '../lib/stores/store';

export function owedActivities(stores: Map<string, Store>, ring: KeyRing | undefined, db: () => Catalog, log: Logger) {
  return {
    /** The stores owed copies: the sweep makes sure each has its owedCopies workflow. */
    async storesOwedCopies({ cluster }: { cluster: string }): Promise<string[]> {
      return (await owedPerStore(db(), cluster)).map((r) => r.store);
    },

    /**
     * Makes up to `limit` of the copies owed to `store`, oldest file first, and stops at the
     * first error from that store (it is still down). Returns how many it made and how many
     * are still owed.
     */
    async makeOwedCopies({
      cluster,
      store,
      limit,
    }: {
      cluster: string;
      store: string;
      limit: number;
    }): Promise<{ made: number; owed: number; error: string | null }> {
      const ctx = Context.current();
      const signal = ctx.cancellationSignal;
      const target = stores.get(store);
      if (!target) throw new Error(`store "${store}" is owed copies but is not configured on this worker`);
      const sources = [...stores.values()].filter((s) => s !== target);
      const rows = await db()
        .select({ id: owedCopies.id, name: owedCopies.name, key: owedCopies.key, sha256: walFiles.sha256 })
        .from(owedCopies)
        .innerJoin(walFiles, and(eq(walFiles.cluster, owedCopies.cluster), eq(walFiles.name, owedCopies.name)))
        .where(and(eq(owedCopies.cluster, cluster), eq(owedCopies.store, store)))
        .orderBy(asc(owedCopies.name))
        .limit(limit);
      let made = 0;
      let error: string | null = null;
      for (const row of rows) {
        ctx.heartbeat({ made, of: rows.length });
        const ref = { sha256: row.sha256, storedSize: undefined };
        try {
          // The upload cancelled when the file left may have landed after all.
          let held = await readMatching(target, row.key, ref, ring, signal);
          if (!held) {
            const source = await findMatching(sources, row.key, ref, ring, signal);
            if (!source) {
              log.error({ cluster, store, key: row.key }, 'owed copy: no store holds a verified copy to copy from');
              continue;
            }
            if (!(await putMatching(target, row.key, source, ref, ring, signal))) {
              log.error({ cluster, store, key: row.key }, 'owed copy does not read back as written; will retry');
              continue;
            }
            held = source;
          }
          await db().transaction(async (tx) => {
            await tx
              .insert(walCopies)
              .values({
                cluster,
                name: row.name,
                store,
                key: row.key,
                storedSize: held.body.length,
                confirmedAt: new Date(),
              })
              .onConflictDoNothing();
            await tx.delete(owedCopies).where(eq(owedCopies.id, row.id));
          });
          made++;
        } catch (e) {
          if (signal.aborted) throw e;
          error = `${store}: ${(e as Error).message}`;
          break;
        }
      }
      const [left] = await db()
        .select({ n: count() })
        .from(owedCopies)
        .where(and(eq(owedCopies.cluster, cluster), eq(owedCopies.store, store)));
      if (made) log.info({ cluster, store, made, owed: left.n }, 'made owed copies store to store');
      return { made, owed: left.n, error };
    },
  };
}
