// Host activities on the local spool: list, stage (hash + compress + seal once), remove, quarantine.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Context } from '@temporalio/activity';
import { gate } from '../lib/concurrency';
import { CODEC_SUFFIXES, parseCompression } from '../lib/codec';
import type { Config } from '../lib/config';
import { fsyncDir } from '../lib/fsync';
import { writeFileDurably } from '../lib/fsutil';
import { walKey } from '../lib/keys';
import { encodeObject } from '../lib/objectbody';
import { SpoolPaths } from '../lib/spool';
import { spoolStat } from '../lib/spoolstat';
import { parseSegmentHeader } from '../lib/wal/header';
import { encodeIndex, indexSegment } from '../lib/wal/segmentindex';
import { parseWalName, startLsnOf } from '../lib/wal/name';
import type { StagedFile } from '../lib/contracts';

const STAGED_SUFFIXES = Object.values(CODEC_SUFFIXES);

/** A push killed mid-copy leaves its temp file; no push takes an hour, so older ones are debris. */
const DEBRIS_AGE_MS = 3_600_000;

/**
 * Files staged at once: one per core keeps the cores busy through a backlog, and bounds the
 * worker's memory (each holds a raw segment and its compressed copy) however many runs wait.
 */
const STAGING_AT_ONCE = Math.min(4, os.availableParallelism());
/** Well inside stageBatch's heartbeat timeout. */
const HEARTBEAT_MS = 5_000;

async function removeDebris(tmpDir: string): Promise<void> {
  for (const f of await fs.promises.readdir(tmpDir).catch(() => [] as string[])) {
    const file = path.join(tmpDir, f);
    const st = await fs.promises.stat(file).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > DEBRIS_AGE_MS) await fs.promises.rm(file, { force: true });
  }
}

/** A buffer reused for whole spool files, grown to the largest one read (the segment size). */
class ReadSlot {
  private buffer = Buffer.alloc(0);

  /** The file's bytes, valid until the next read, and its mtime; null when the file is gone. */
  async read(file: string): Promise<{ raw: Buffer; mtime: Date } | null> {
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(file, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    try {
      const { size, mtime } = await fh.stat();
      if (size > this.buffer.length) this.buffer = Buffer.allocUnsafeSlow(size);
      const raw = this.buffer.subarray(0, size);
      for (let at = 0; at < size;) {
        const { bytesRead } = await fh.read(raw, at, size - at, at);
        // Spool files are complete before their final name appears; one that shrinks is not ours to stage.
        if (bytesRead === 0) throw new Error(`${file} ended at byte ${at} of ${size} while being read; retrying`);
        at += bytesRead;
      }
      return { raw, mtime };
    } finally {
      await fh.close();
    }
  }
}

/**
 * `inBatch`: the file is in an archiveBatch of this host's watcher, which the sweep leaves alone
 * rather than archive it a second time beside the batch.
 */
export function spoolActivities(config: Config, inBatch: (name: string) => boolean = () => false) {
  const spoolOf = (cluster: string) => new SpoolPaths(config.spoolDir, cluster);
  const codec = parseCompression(config.compression);

  // One read buffer per staging slot, kept: a fresh 16 MiB buffer per file made the worker's
  // garbage collector run after every few files and its resident memory grow far past what it held.
  const freeSlots: ReadSlot[] = [];
  const staging = gate(STAGING_AT_ONCE);
  const inSlot = <R>(work: (slot: ReadSlot) => Promise<R>): Promise<R> =>
    staging(async () => {
      const slot = freeSlots.pop() ?? new ReadSlot();
      try {
        return await work(slot);
      } finally {
        freeSlots.push(slot);
      }
    });

  /** Done before `slot` reads again: nothing it returns refers to the slot's bytes. */
  async function stage(cluster: string, name: string, slot: ReadSlot): Promise<StagedFile | null> {
    const spool = spoolOf(cluster);
    const wal = parseWalName(name);
    if (!wal) throw new Error(`${name} in the spool is not a WAL file name`);
    const read = await slot.read(spool.wal(name));
    if (!read) return null;
    const { raw, mtime } = read;
    const header = wal.kind === 'segment' || wal.kind === 'partial' ? parseSegmentHeader(raw) : undefined;
    const segmentSize = header?.segmentSize;
    const exact = segmentSize ? parseWalName(name, segmentSize)! : wal;
    // History files stay uncompressed so that a human (and any tool) can read them in the
    // bucket, unless encryption is on.
    const c = wal.kind === 'history' ? parseCompression('none') : codec;
    // Compression runs on libuv's pool; hashing and indexing run here meanwhile, on the same bytes.
    const encoding = encodeObject(raw, c, config.encryption);
    let sha256: string, walIndex: string | null;
    try {
      sha256 = createHash('sha256').update(raw).digest('hex');
      walIndex = wal.kind === 'segment' || wal.kind === 'partial' ? encodeIndex(indexSegment(raw)) : null;
    } finally {
      // Even when indexing refuses the segment: the slot's bytes stay unread by the next file
      // until their compression has ended.
      await encoding.catch(() => undefined);
    }
    const { stored, keyId } = await encoding;
    await writeFileDurably(spool.staged(name, c.suffix), stored);
    return {
      name,
      kind: wal.kind,
      timeline: wal.timeline,
      startLsn: segmentSize ? startLsnOf(exact, segmentSize)!.toString() : null,
      rawSize: raw.length,
      storedSize: stored.length,
      codec: c.name,
      sha256,
      ...(keyId ? { keyId } : {}),
      key: walKey(cluster, wal, c.suffix),
      handedOverAt: mtime.toISOString(),
      systemIdentifier: header?.systemIdentifier ?? null,
      pgVersion: header?.pgVersion ?? null,
      segmentSize: segmentSize ?? null,
      walIndex,
      stores: config.stores.map((s) => s.name),
      alertUploadFailingMs: config.alertUploadFailingMs,
      minCopies: config.minCopies,
    };
  }

  return {
    /** Up to `limit` names after `after` (all of them for ''), in name order. */
    async listSpool({ cluster, limit, after = '' }: { cluster: string; limit: number; after?: string }) {
      const spool = spoolOf(cluster);
      await removeDebris(spool.tmpDir);
      const { names, oldestAgeMs } = spoolStat(config.spoolDir, cluster);
      const rest = names.filter((n) => n > after && !inBatch(n));
      return { names: rest.slice(0, limit), truncated: rest.length > limit, oldestAgeMs };
    },

    /** Reads the spool copy once, hashes, indexes, compresses and seals it once; null when already gone. */
    stageSegment: ({ cluster, name }: { cluster: string; name: string }): Promise<StagedFile | null> =>
      inSlot((slot) => stage(cluster, name, slot)),

    /**
     * A batch's files, staged as stageSegment does each. A real activity, not a local one: its
     * files wait their turn at the gate, longer than a workflow task may stay open.
     */
    async stageBatch({ cluster, names }: { cluster: string; names: string[] }): Promise<(StagedFile | null)[]> {
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_MS);
      try {
        return await Promise.all(names.map((name) => inSlot((slot) => stage(cluster, name, slot))));
      } finally {
        clearInterval(beat);
      }
    },

    /** Every store holds a verified copy: the spool copy and the staged copy can go. */
    async removeSpoolCopy({ cluster, name }: { cluster: string; name: string }) {
      const spool = spoolOf(cluster);
      await fs.promises.rm(spool.wal(name), { force: true });
      for (const suffix of STAGED_SUFFIXES) await fs.promises.rm(spool.staged(name, suffix), { force: true });
      await fsyncDir(spool.walDir);
    },

    /** A conflicting file leaves the queue but stays for a human to look at. */
    async quarantineSpoolCopy({ cluster, name }: { cluster: string; name: string }) {
      const spool = spoolOf(cluster);
      await fs.promises.mkdir(spool.conflictDir, { recursive: true });
      try {
        await fs.promises.rename(spool.wal(name), path.join(spool.conflictDir, name));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      for (const suffix of STAGED_SUFFIXES) await fs.promises.rm(spool.staged(name, suffix), { force: true });
      await fsyncDir(spool.dir);
    },
  };
}
