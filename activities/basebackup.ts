// Base backups: pg_basebackup's tar stream, cut into chunks, each compressed as its own frame
// and written create-only into every store. A chunk is an ordinary walflow object (codec, raw
// size and SHA-256 of its raw bytes in metadata, a Buffer with Content-MD5), so no multipart
// upload and none of its checksum traps; concatenated, the chunks are one valid compressed tar.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { and, eq, inArray } from 'drizzle-orm';
import { Client as PgClient } from 'pg';
import type { Catalog } from '../db/client';
import { backups, walCopies } from '../db/schema';
import { parseCompression, type Codec } from '../lib/codec';
import type { Config } from '../lib/config';
import { ConflictError } from '../lib/errors';
import { encodeObject } from '../lib/objectbody';
import { parentFor, ParentCandidate } from '../lib/backupchain';
import { backupChunkName, backupFilesKey, backupManifestKey, backupPgManifestKey, backupPrefix } from '../lib/keys';
import type { Logger } from '../lib/log';
import { pgMajor, pgTool } from '../lib/pgbin';
import { TarScanner } from '../lib/tarscan';
import { putCreateOnly, Store } from '../lib/stores/store';
import { formatLsn, parseLsn, segmentNumberOf } from '../lib/wal/lsn';
import { segmentName } from '../lib/wal/name';
import { readFromAnyStore } from '../lib/verified';
import { passwordToEnv } from '../lib/secrets';
import { listBackups } from '../lib/storeinventory';
import {
  CONTENT_CONFLICT,
  NO_BACKUP,
  type BackupFile,
  type BackupManifest,
  type BackupRecord,
  type BackupSummary,
} from '../lib/contracts';

/** Raw bytes per chunk: big enough for few objects, small enough to hold two in memory. */
const CHUNK_BYTES = 64 << 20;
const HEARTBEAT_MS = 5_000;

async function serverIdentity(url: string) {
  const pg = new PgClient({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await pg.connect();
  try {
    const r = await pg.query<{
      sysid: string;
      num: number;
      text: string;
      seg: string;
      summarize: string | null;
    }>(`SELECT system_identifier::text AS sysid, current_setting('server_version_num')::int AS num,
      current_setting('server_version') AS text, current_setting('summarize_wal', true) AS summarize,
      (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size') AS seg FROM pg_control_system()`);
    const row = r.rows[0];
    // pg_settings reports wal_segment_size in bytes from PostgreSQL 11 on; bigint arrives as text.
    return {
      systemIdentifier: row.sysid,
      pgVersion: row.num,
      pgVersionText: row.text,
      segmentSize: Number(row.seg),
      summarizeWal: row.summarize,
    };
  } finally {
    await pg.end().catch(() => undefined);
  }
}

/** Segments from the one holding `start` to the one holding the last byte before `stop`. */
export function segmentsBetween(timeline: number, start: bigint, stop: bigint, segmentSize: number): string[] {
  const out: string[] = [];
  const last = segmentNumberOf(stop > start ? stop - 1n : start, segmentSize);
  for (let s = segmentNumberOf(start, segmentSize); s <= last; s++) out.push(segmentName(timeline, s, segmentSize));
  return out;
}

/** Why this server cannot take an incremental backup, in one line; undefined when it can. */
export function incrementalRefusal(
  pgVersion: number,
  pgVersionText: string,
  summarizeWal: string | null,
): string | undefined {
  if (pgVersion < 170000)
    return `PostgreSQL ${pgVersionText} takes no incremental backups (17 or later does): take a full backup (walflow backup)`;
  if (summarizeWal !== 'on')
    return 'summarize_wal is off: set summarize_wal = on in postgresql.conf, reload PostgreSQL and take a full backup, then incrementals can follow';
  return undefined;
}

/** Start and stop of a backup from the backup_label and backup_manifest found in its tar. */
function backupRange(captured: Map<string, Buffer>): { timeline: number; startLsn: bigint; stopLsn: bigint } {
  const label = captured.get('backup_label')?.toString() ?? '';
  const start = /START WAL LOCATION: ([0-9A-F]+\/[0-9A-F]+)/.exec(label);
  const tli = /START TIMELINE: (\d+)/.exec(label);
  const manifest = captured.get('backup_manifest');
  if (!start || !tli || !manifest) {
    throw new Error(
      'the backup stream holds no backup_label and backup_manifest; is this pg_basebackup 13 or newer with a manifest?',
    );
  }
  const ranges = (JSON.parse(manifest.toString()) as { 'WAL-Ranges': { Timeline: number; 'End-LSN': string }[] })[
    'WAL-Ranges'
  ];
  const last = ranges[ranges.length - 1];
  return { timeline: Number(tli[1]), startLsn: parseLsn(start[1]), stopLsn: parseLsn(last['End-LSN']) };
}

export function basebackupActivities(config: Config, stores: Map<string, Store>, db: () => Catalog, log: Logger) {
  const codec = parseCompression(config.compression);
  const plain = parseCompression('none');

  /** Compresses with `c`, seals when keys are configured, and writes create-only into every store. */
  async function putEverywhere(key: string, raw: Buffer, c: Codec, signal: AbortSignal) {
    const { stored, keyId } = await encodeObject(raw, c, config.encryption);
    const sha256 = createHash('sha256').update(raw).digest('hex');
    const meta = { codec: c.name, rawSize: raw.length, sha256, ...(keyId ? { keyId } : {}) };
    try {
      await Promise.all([...stores.values()].map((s) => putCreateOnly(s, key, stored, meta, signal)));
      return { storedSize: stored.length, sha256 };
    } catch (e) {
      if (e instanceof ConflictError) throw ApplicationFailure.nonRetryable(e.message, CONTENT_CONFLICT);
      throw e;
    }
  }

  /** The parent's backup_manifest, verified against its SHA-256, in a private temporary folder for pg_basebackup. */
  async function fetchParentManifest(cluster: string, parent: string, signal: AbortSignal) {
    const key = backupPgManifestKey(cluster, parent);
    const { found, errors } = await readFromAnyStore([...stores.values()], [key], config.encryption, signal);
    if (!found) {
      const why = errors.length ? errors.join('; ') : 'in no store';
      if (errors.length) throw new Error(`the parent backup's backup_manifest could not be read: ${why}`);
      throw ApplicationFailure.nonRetryable(
        `backup ${parent} has no backup_manifest object (${key}), so no incremental can build on it: take a full backup`,
        NO_BACKUP,
      );
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'walflow-parent-'));
    const file = path.join(dir, 'backup_manifest');
    fs.writeFileSync(file, found.raw, { mode: 0o600 });
    return { dir, file };
  }

  return {
    /** The backup the next incremental builds on (lib/backupchain.ts parentFor), from what every store holds. */
    async chooseBackupParent({
      cluster,
      fullEveryMs,
      now,
    }: {
      cluster: string;
      fullEveryMs?: number;
      now: string;
    }): Promise<{ parent?: string; reason: string }> {
      const signal = Context.current().cancellationSignal;
      const known = new Map<string, ParentCandidate>();
      let everywhere: Set<string> | undefined;
      for (const store of stores.values()) {
        const here = new Set<string>();
        for (const b of (await listBackups(store, cluster, config.encryption, signal)).complete) {
          const id = b.manifest.backupId;
          known.set(id, b.manifest);
          if (b.keys.includes(backupPgManifestKey(cluster, id))) here.add(id);
        }
        everywhere = everywhere ? new Set([...everywhere].filter((id) => here.has(id))) : here;
      }
      return parentFor(
        [...(everywhere ?? [])].map((id) => known.get(id)!),
        known,
        fullEveryMs,
        now,
      );
    },

    /** Host activity: runs pg_basebackup against WALFLOW_PG_URL and streams it into every store. */
    async streamBaseBackup({
      cluster,
      backupId,
      parent,
    }: {
      cluster: string;
      backupId: string;
      /** Take an incremental against this backup's backup_manifest. */
      parent?: string;
    }): Promise<BackupSummary> {
      const ctx = Context.current();
      if (!config.pgUrl)
        throw ApplicationFailure.nonRetryable(
          'WALFLOW_PG_URL is not set on this host: base backups need a connection to PostgreSQL',
          'NoPgUrl',
        );
      const started = Date.now();
      const prefix = backupPrefix(cluster, backupId);
      // A retried attempt is a new pg_basebackup with other bytes: start from a clean folder.
      // Safe, since manifest.json (written last, by the workflow) is not there yet.
      for (const s of stores.values()) {
        for await (const o of s.list(prefix, ctx.cancellationSignal)) {
          if (o.key === backupManifestKey(cluster, backupId))
            throw ApplicationFailure.nonRetryable(
              `${s.name}:${o.key} exists: backup ${backupId} is already complete`,
              'BackupExists',
            );
          await s.delete(o.key, ctx.cancellationSignal);
        }
      }
      const identity = await serverIdentity(config.pgUrl);
      const refusal = parent && incrementalRefusal(identity.pgVersion, identity.pgVersionText, identity.summarizeWal);
      if (refusal) throw ApplicationFailure.nonRetryable(refusal, 'NoIncremental');
      const parentManifest = parent ? await fetchParentManifest(cluster, parent, ctx.cancellationSignal) : undefined;
      const label = `walflow ${cluster} ${backupId}`;
      const startTime = new Date();
      // -X none: the WAL comes from the archive; the server waits at backup stop until
      // archive_command (walflow push) took the last segment it needs.
      const { conninfo, env } = passwordToEnv(config.pgUrl);
      const child = spawn(
        pgTool('pg_basebackup', pgMajor(identity.pgVersion)),
        [
          '-d',
          conninfo,
          '-D',
          '-',
          '-Ft',
          '-X',
          'none',
          '-c',
          'fast',
          '-l',
          label,
          '-v',
          ...(parentManifest ? [`--incremental=${parentManifest.file}`] : []),
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
          signal: ctx.cancellationSignal,
          env,
        },
      );
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      child.on('error', () => undefined); // reported through the exit code and stderr

      // backup_label names the start, backup_manifest's WAL range the end.
      const scanner = new TarScanner(new Set(['backup_label', 'backup_manifest']));
      const files: BackupFile[] = [];
      let rawSize = 0,
        storedSize = 0;
      const beat = setInterval(
        () => ctx.heartbeat({ phase: 'streaming', rawBytes: rawSize, storedBytes: storedSize, chunks: files.length }),
        HEARTBEAT_MS,
      );
      try {
        let pending: Buffer[] = [];
        let pendingBytes = 0;
        const flush = async () => {
          if (pendingBytes === 0) return;
          const raw = Buffer.concat(pending);
          pending = [];
          pendingBytes = 0;
          const name = backupChunkName(files.length + 1, codec.suffix);
          const put = await putEverywhere(prefix + name, raw, codec, ctx.cancellationSignal);
          files.push({ name, rawSize: raw.length, ...put });
          rawSize += raw.length;
          storedSize += put.storedSize;
        };
        // Iterating the pipe applies backpressure: pg_basebackup waits while a chunk uploads.
        for await (const data of child.stdout) {
          scanner.feed(data as Buffer);
          pending.push(data as Buffer);
          pendingBytes += (data as Buffer).length;
          if (pendingBytes >= CHUNK_BYTES) await flush();
        }
        await flush();
        const code = await exited;
        if (code !== 0)
          throw new Error(`pg_basebackup exited with ${code}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
      } catch (e) {
        child.kill('SIGTERM');
        throw e;
      } finally {
        clearInterval(beat);
        if (parentManifest) fs.rmSync(parentManifest.dir, { recursive: true, force: true });
      }
      const stopTime = new Date();
      const { timeline, startLsn, stopLsn } = backupRange(scanner.captured);
      const wal = segmentsBetween(timeline, startLsn, stopLsn, identity.segmentSize);
      // Kept apart from the chunks so that an incremental taken later reads it without the tar.
      const pgManifest = scanner.captured.get('backup_manifest')!;
      await putEverywhere(backupPgManifestKey(cluster, backupId), pgManifest, plain, ctx.cancellationSignal);
      // The chunk list, for writeBackupManifest (any worker) to fold into manifest.json.
      const list = Buffer.from(JSON.stringify(files) + '\n');
      await putEverywhere(backupFilesKey(cluster, backupId), list, plain, ctx.cancellationSignal);
      const result: BackupSummary = {
        backupId,
        label,
        timeline,
        startLsn: formatLsn(startLsn),
        stopLsn: formatLsn(stopLsn),
        startWal: wal[0],
        stopWal: wal[wal.length - 1],
        startTime: startTime.toISOString(),
        stopTime: stopTime.toISOString(),
        ...(parent ? { parent } : {}),
        pgVersion: identity.pgVersion,
        pgVersionText: identity.pgVersionText,
        systemIdentifier: identity.systemIdentifier,
        segmentSize: identity.segmentSize,
        codec: codec.name,
        fileCount: files.length,
        rawSize,
        storedSize,
        stores: [...stores.keys()],
        seconds: (Date.now() - started) / 1000,
      };
      log.info(
        {
          cluster,
          backupId,
          raw: rawSize,
          stored: storedSize,
          chunks: files.length,
          startLsn: result.startLsn,
          stopLsn: result.stopLsn,
          parent,
        },
        'base backup streamed',
      );
      return result;
    },

    /** WAL files the backup needs that some store does not hold yet (by the catalog's record). */
    async backupWalMissing({
      cluster,
      timeline,
      startLsn,
      stopLsn,
      segmentSize,
      stores: wanted,
    }: {
      cluster: string;
      timeline: number;
      startLsn: string;
      stopLsn: string;
      segmentSize: number;
      stores: string[];
    }): Promise<string[]> {
      const names = segmentsBetween(timeline, parseLsn(startLsn), parseLsn(stopLsn), segmentSize);
      const rows = await db()
        .select({ name: walCopies.name, store: walCopies.store })
        .from(walCopies)
        .where(and(eq(walCopies.cluster, cluster), inArray(walCopies.name, names)));
      const held = new Set(rows.map((r) => `${r.name}@${r.store}`));
      return names.filter((n) => wanted.some((s) => !held.has(`${n}@${s}`)));
    },

    /** manifest.json, last, into every store: from now on the backup counts. */
    async writeBackupManifest({ record }: { record: BackupRecord }): Promise<void> {
      const ctx = Context.current();
      const filesKey = backupFilesKey(record.cluster, record.backupId);
      const { found, errors } = await readFromAnyStore(
        [...stores.values()],
        [filesKey],
        config.encryption,
        ctx.cancellationSignal,
      );
      if (!found) throw new Error(`${filesKey} is in no store: ${errors.join('; ') || 'missing'}`);
      const manifest: BackupManifest = { ...record, files: JSON.parse(found.raw.toString()) as BackupFile[] };
      const body = Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
      await putEverywhere(backupManifestKey(manifest.cluster, manifest.backupId), body, plain, ctx.cancellationSignal);
    },

    async recordBackup(r: {
      cluster: string;
      backupId: string;
      hostId: string;
      status: string;
      startedAt: string;
      streamed?: BackupSummary;
      manifest?: BackupRecord;
      error?: string;
    }): Promise<void> {
      const s = r.streamed ?? r.manifest;
      const values = {
        cluster: r.cluster,
        backupId: r.backupId,
        hostId: r.hostId,
        status: r.status,
        startedAt: new Date(r.startedAt),
        ...(s
          ? {
              timeline: s.timeline,
              startLsn: parseLsn(s.startLsn),
              stopLsn: parseLsn(s.stopLsn),
              stoppedAt: new Date(s.stopTime),
              rawSize: s.rawSize,
              storedSize: s.storedSize,
              pgVersion: s.pgVersion,
              systemIdentifier: s.systemIdentifier,
              stores: s.stores,
            }
          : {}),
        ...(r.manifest ? { manifest: r.manifest, completedAt: new Date(r.manifest.walArchivedAt) } : {}),
        error: r.error ?? null,
      };
      await db()
        .insert(backups)
        .values(values)
        .onConflictDoUpdate({ target: [backups.cluster, backups.backupId], set: values });
      log.info({ cluster: r.cluster, backupId: r.backupId, status: r.status }, 'backup recorded');
    },
  };
}
