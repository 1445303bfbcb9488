// What one store holds for a cluster, read from the store itself: its backups (complete or not)
// and its WAL objects with the keep rule its kept backups and history files give. Retention plans
// from it, verify checks against it, and a backup chooses its parent from it.
import { backupManifestKey, backupOfKey, backupsPrefix, walPrefix } from './keys';
import type { Logger } from './log';
import type { Store } from './stores/store';
import { readVerified } from './verified';
import type { KeyRing } from './crypto/keyring';
import { NotFoundError } from './errors';
import { parseManifest } from './formats';
import { walNameOfKey } from './walkeys';
import { KeptBackup, walKeepRule, WalVerdict } from './wal/keep';
import { parseWalName, WalName } from './wal/name';
import { parseHistory, TimelineSwitch } from './wal/timeline';
import type { BackupManifest } from './contracts';

export async function listBackups(store: Store, cluster: string, ring: KeyRing | undefined, signal: AbortSignal) {
  const folders = new Map<string, { keys: string[]; newest: number }>();
  for await (const o of store.list(backupsPrefix(cluster), signal)) {
    const id = backupOfKey(cluster, o.key)!.backupId;
    const f = folders.get(id) ?? { keys: [], newest: 0 };
    f.keys.push(o.key);
    f.newest = Math.max(f.newest, o.lastModified?.getTime() ?? 0);
    folders.set(id, f);
  }
  const complete: { manifest: BackupManifest; keys: string[] }[] = [];
  const incomplete: { id: string; keys: string[]; newest: number }[] = [];
  for (const [id, f] of folders) {
    const manifestKey = backupManifestKey(cluster, id);
    if (f.keys.includes(manifestKey)) {
      const read = await readVerified(store, manifestKey, ring, signal);
      if (!read) throw new NotFoundError(manifestKey);
      const manifest = parseManifest(read.raw, id);
      // Manifest first: once it is gone the backup no longer counts, whatever else remains.
      complete.push({ manifest, keys: [manifestKey, ...f.keys.filter((k) => k !== manifestKey)] });
    } else {
      incomplete.push({ id, ...f });
    }
  }
  complete.sort((a, b) => b.manifest.stopTime.localeCompare(a.manifest.stopTime)); // newest first
  return { complete, incomplete };
}

/**
 * The WAL objects a store holds and the keep rule its kept backups and history files give.
 * A history file that cannot be read or parsed is left out: that only ever keeps more.
 */
export async function storeWalKeep(
  store: Store,
  cluster: string,
  kept: KeptBackup[],
  segmentSize: number | undefined,
  ring: KeyRing | undefined,
  signal: AbortSignal,
  log: Logger,
  onListed?: (listed: number) => void,
): Promise<{ wal: { key: string; name: WalName; size: number }[]; keep: (wal: WalName) => WalVerdict }> {
  const wal: { key: string; name: WalName; size: number }[] = [];
  let listed = 0;
  for await (const o of store.list(walPrefix(cluster), signal)) {
    const name = parseWalName(walNameOfKey(o.key) ?? '', segmentSize);
    if (name) wal.push({ key: o.key, name, size: o.size });
    if (++listed % 1000 === 0) onListed?.(listed);
  }
  const histories = new Map<number, TimelineSwitch[]>();
  for (const h of wal.filter((w) => w.name.kind === 'history')) {
    try {
      const found = await readVerified(store, h.key, ring, signal);
      if (found) histories.set(h.name.timeline, parseHistory(found.raw.toString()));
    } catch (e) {
      if (signal.aborted) throw e;
      log.warn(
        { store: store.name, key: h.key, err: (e as Error).message },
        'history file unreadable: its timeline keeps all WAL not before the earliest kept backup',
      );
    }
  }
  return { wal, keep: walKeepRule(kept, histories, segmentSize) };
}
