// Retention decided from backups, never from WAL age alone: per store, keep every complete
// backup younger than its retention period and at least the newest N; delete WAL older than the
// start of the oldest kept backup, and the backups not kept (manifest first, so a half-deleted
// backup never looks complete). History files are never deleted. Planning and deleting are
// separate steps, so a dry run shows exactly what the real run deletes.
import { Context } from '@temporalio/activity';
import { and, eq, notExists, sql } from 'drizzle-orm';
import type { Catalog } from '../db/client';
import { backups, walCopies, walFiles } from '../db/schema';
import type { Config } from '../lib/config';
import { parseManifest } from '../lib/formats';
import { walPrefix } from '../lib/keys';
import type { Logger } from '../lib/log';
import type { Store } from '../lib/stores/store';
import { parseWalName } from '../lib/wal/name';
import type { BackupManifest } from '../workflows/pitr-types';
import type { RetentionPlan, StorePlan } from '../workflows/shared';
import { MANIFEST } from './basebackup';
import { walNameOfKey } from './verify';

const DAY = 86_400_000;

async function listBackups(store: Store, cluster: string, signal: AbortSignal) {
  const folders = new Map<string, { keys: string[]; newest: number }>();
  for await (const o of store.list(`${cluster}/backups/`, signal)) {
    const id = o.key.slice(`${cluster}/backups/`.length).split('/')[0];
    const f = folders.get(id) ?? { keys: [], newest: 0 };
    f.keys.push(o.key);
    f.newest = Math.max(f.newest, o.lastModified?.getTime() ?? 0);
    folders.set(id, f);
  }
  const complete: { manifest: BackupManifest; keys: string[] }[] = [];
  const incomplete: { id: string; keys: string[]; newest: number }[] = [];
  for (const [id, f] of folders) {
    const manifestKey = `${cluster}/backups/${id}/${MANIFEST}`;
    if (f.keys.includes(manifestKey)) {
      const manifest = parseManifest(await store.get(manifestKey, signal), id);
      // Manifest first: once it is gone the backup no longer counts, whatever else remains.
      complete.push({ manifest, keys: [manifestKey, ...f.keys.filter((k) => k !== manifestKey)] });
    } else {
      incomplete.push({ id, ...f });
    }
  }
  complete.sort((a, b) => b.manifest.stopTime.localeCompare(a.manifest.stopTime)); // newest first
  return { complete, incomplete };
}

export function retentionActivities(config: Config, stores: Map<string, Store>, db: () => Catalog, log: Logger) {
  return {
    async planRetention({ cluster, now: nowText }: { cluster: string; now: string }): Promise<RetentionPlan> {
      const signal = Context.current().cancellationSignal;
      const now = new Date(nowText).getTime();
      const minBackups = config.retentionMinBackups;
      const plans: StorePlan[] = [];
      for (const cfg of config.stores) {
        const store = stores.get(cfg.name)!;
        const days = cfg.retentionDays ?? config.retentionDays;
        const { complete, incomplete } = await listBackups(store, cluster, signal);
        const plan: StorePlan = { store: cfg.name, retentionDays: days, kept: [], deletions: [], blocked: null, newestBackup: complete[0]?.manifest.stopTime ?? null };
        const kept = complete.filter((b, i) => i < minBackups || now - Date.parse(b.manifest.stopTime) <= days * DAY);
        plan.kept = kept.map((b) => b.manifest.backupId);
        for (const b of complete.filter((b) => !kept.includes(b))) {
          const why = `backup ${b.manifest.backupId} finished ${b.manifest.stopTime}: older than ${days} days and not among the newest ${minBackups}`;
          for (const key of b.keys) plan.deletions.push({ key, reason: why });
        }
        for (const b of incomplete.filter((b) => now - b.newest > days * DAY)) {
          for (const key of b.keys) plan.deletions.push({ key, reason: `unfinished backup ${b.id} (no manifest), untouched for over ${days} days` });
        }
        if (!kept.length) {
          plan.blocked = `no complete backup in ${cfg.name}: all WAL is kept, since WAL alone restores nothing`;
          plans.push(plan);
          continue;
        }
        const oldest = kept[kept.length - 1].manifest;
        const keepFrom = parseWalName(oldest.startWal, oldest.segmentSize)!.segno!;
        for await (const o of store.list(walPrefix(cluster), signal)) {
          const wal = parseWalName(walNameOfKey(o.key) ?? '', oldest.segmentSize);
          if (!wal || wal.kind === 'history' || wal.segno === undefined || wal.segno >= keepFrom) continue;
          plan.deletions.push({ key: o.key, reason: `WAL before ${oldest.startWal}, where the oldest kept backup ${oldest.backupId} starts` });
        }
        plans.push(plan);
      }
      return { cluster, now: nowText, minBackups, stores: plans };
    },

    /** Deletes exactly what the plan lists; deleting something already gone is fine. */
    async applyRetention({ plan }: { plan: RetentionPlan }): Promise<number> {
      const ctx = Context.current();
      let deleted = 0;
      for (const p of plan.stores) {
        const store = stores.get(p.store)!;
        for (const d of p.deletions) {
          await store.delete(d.key, ctx.cancellationSignal);
          if (++deleted % 100 === 0) ctx.heartbeat({ deleted });
          const name = walNameOfKey(d.key);
          if (name && d.key.startsWith(walPrefix(plan.cluster))) {
            await db().delete(walCopies).where(and(eq(walCopies.cluster, plan.cluster), eq(walCopies.name, name), eq(walCopies.store, p.store)));
          }
        }
      }
      // A backup whose manifest left a store no longer counts there; once in no store, it expired.
      for (const p of plan.stores) {
        for (const d of p.deletions.filter((d) => d.key.endsWith(`/${MANIFEST}`) && d.key.startsWith(`${plan.cluster}/backups/`))) {
          const backupId = d.key.split('/').slice(-2)[0];
          await db().update(backups).set({
            stores: sql`coalesce(${backups.stores}, '[]'::jsonb) - ${p.store}::text`,
            status: sql`CASE WHEN coalesce(${backups.stores}, '[]'::jsonb) - ${p.store}::text = '[]'::jsonb THEN 'expired' ELSE ${backups.status} END`,
          }).where(and(eq(backups.cluster, plan.cluster), eq(backups.backupId, backupId)));
        }
      }
      // A WAL file no store holds any more leaves the catalog too.
      await db().delete(walFiles).where(and(eq(walFiles.cluster, plan.cluster), sql`${walFiles.kind} <> 'history'`, notExists(
        db().select({ one: sql`1` }).from(walCopies).where(and(eq(walCopies.cluster, walFiles.cluster), eq(walCopies.name, walFiles.name))))));
      log.info({ cluster: plan.cluster, deleted }, 'retention applied');
      return deleted;
    },
  };
}
