// Restore activities: choose a backup, download and unpack it, prefetch its WAL, write the
// recovery settings, start PostgreSQL and watch it reach the target. Host activities touch
// the data directory; choosing and planning read the stores and the catalog (any worker).
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { and, asc, eq, gte, inArray, sql, SQL } from 'drizzle-orm';
import type { Catalog } from '../db/client';
import { DetailWriter, readDetails, runOf } from '../db/rundetails';
import { runs, walFiles } from '../db/schema';
import type { Config } from '../lib/config';
import { storeSettingPrefix } from '../lib/stores/settings';
import { parseManifest } from '../lib/formats';
import { writeFileDurably } from '../lib/fsutil';
import { WALFLOW_BIN } from '../lib/install';
import { backupManifestKey, backupOfKey, backupPrefix, backupsPrefix, walPrefix } from '../lib/keys';
import type { Logger } from '../lib/log';
import { dataDirMajor, pgMajor, pgTool, postgresUser } from '../lib/pgbin';
import { confString, describeWrittenConfig, writeMissingConfig } from '../lib/pgconf';
import { disableBackupRecoverySettings, disableRestoreSettings, forgetRestoreEnv } from '../lib/recoveryconf';
import type { Store } from '../lib/stores/store';
import { bootId, ResumableUntar } from '../lib/untar';
import { readFromAnyStore } from '../lib/verified';
import {
  plannedFile,
  PREFETCH_BEAT_MS,
  recordLanded,
  setPrefetchState,
  touchPrefetchState,
} from '../lib/prefetchfolder';
import { walKeyCandidates, walNameOfKey } from '../lib/walkeys';
import { formatLsn, parseLsn, segmentNumberOf, segmentStartLsn } from '../lib/wal/lsn';
import { parseWalName, startLsnOf, timelineHex } from '../lib/wal/name';
import { indexTime, timeMicros } from '../lib/wal/reach';
import { parseHistory } from '../lib/wal/timeline';
import {
  BackupFile,
  BackupManifest,
  BackupRecord,
  BAD_INPUT,
  DATA_DIR_NOT_EMPTY,
  DETAIL_EXAMPLES,
  NO_BACKUP,
  RECOVERY_FAILED,
  RecoveryTarget,
  RESTORE_ENV_FILE,
  RunRef,
  WAL_MISSING,
} from '../lib/contracts';

const HEARTBEAT_MS = 5_000;
const PARALLEL_DOWNLOADS = 4;
/** The catalog section (db/rundetails.ts) holding a restore's WAL to prefetch, in order. */
const PREFETCH_SECTION = 'prefetch';
/** A store that is down fails every read over to the next: report how many, and a few of them. */
const MAX_FAILOVERS_REPORTED = 10;
/** pg_verifybackup found a freshly unpacked backup damaged: downloading it again would not help. */
const BACKUP_CHECK_FAILED = 'BackupCheckFailed';

/** What an object could not be read from; the next store was used instead. */
type Failover = string;

export function restoreActivities(config: Config, stores: Map<string, Store>, db: () => Catalog, log: Logger) {
  /**
   * The stores a restore reads, in order: every configured one, or only those it names
   * (`--stores`), whose "no such file" then counts as the answer of the whole archive.
   */
  function ordered(only?: string[]): Store[] {
    if (!only?.length) return [...stores.values()];
    const unknown = only.filter((n) => !stores.has(n));
    if (unknown.length)
      throw ApplicationFailure.nonRetryable(
        `no store named ${unknown.join(', ')} here; the stores are ${[...stores.keys()].join(', ')}`,
        BAD_INPUT,
      );
    return only.map((n) => stores.get(n)!);
  }

  /** Reads one object from the first store that has a verified copy; throws when none has. */
  async function readAny(
    from: Store[],
    keys: string[],
    failovers: Failover[],
    signal: AbortSignal,
  ): Promise<Buffer | undefined> {
    const { found, errors } = await readFromAnyStore(from, keys, config.encryption, signal);
    failovers.push(...errors);
    if (!found && errors.length === from.length)
      throw new Error(`no store could be read for ${keys[0]}: ${errors.join('; ')}`);
    return found?.raw;
  }

  /** What `pick` makes of each key under `prefix`, from every store that can be listed. */
  async function listEverywhere(
    from: Store[],
    prefix: string,
    pick: (key: string) => string | undefined,
    failovers: Failover[],
    signal: AbortSignal,
  ): Promise<Set<string>> {
    const found = new Set<string>();
    let listed = 0;
    for (const s of from) {
      try {
        for await (const o of s.list(prefix, signal)) {
          const v = pick(o.key);
          if (v !== undefined) found.add(v);
        }
        listed++;
      } catch (e) {
        if (signal.aborted) throw e;
        failovers.push(`${s.name}: ${(e as Error).message}`);
      }
    }
    if (listed === 0) throw new Error(`no store could be listed: ${failovers.join('; ')}`);
    return found;
  }

  /** The chunks of a backup that no store lists. */
  async function chunksMissing(
    cluster: string,
    m: BackupManifest,
    from: Store[],
    failovers: Failover[],
    signal: AbortSignal,
  ) {
    const prefix = backupPrefix(cluster, m.backupId);
    const held = await listEverywhere(from, prefix, (key) => key, failovers, signal);
    return m.files.filter((f) => !held.has(prefix + f.name));
  }

  /**
   * The backups that restore `m`, its full backup first and `m` last, each complete (and with
   * `chunks`, every chunk in some store); or why not. Checked before anything is downloaded or written.
   */
  async function chainFor(
    cluster: string,
    m: BackupManifest,
    from: Store[],
    failovers: Failover[],
    signal: AbortSignal,
    chunks: boolean,
  ): Promise<{ chain: string[] } | { broken: string }> {
    const chain: string[] = [];
    for (let link: BackupManifest | undefined = m; link;) {
      if (chain.includes(link.backupId)) return { broken: `backup ${link.backupId} is its own ancestor` };
      const missing = chunks ? await chunksMissing(cluster, link, from, failovers, signal) : [];
      if (missing.length > 0)
        return { broken: `${missing.length} chunk(s) of ${link.backupId} in no store, such as ${missing[0].name}` };
      chain.unshift(link.backupId);
      if (!link.parent) break;
      const raw = await readAny(from, [backupManifestKey(cluster, link.parent)], failovers, signal);
      if (!raw)
        return { broken: `${link.backupId} builds on ${link.parent}, which is complete in no store (a broken chain)` };
      link = parseManifest(raw, link.parent);
    }
    return { chain };
  }

  function beating(details: () => unknown): () => void {
    const ctx = Context.current();
    const t = setInterval(() => ctx.heartbeat(details()), HEARTBEAT_MS);
    return () => clearInterval(t);
  }

  return {
    /** The cluster and host of the worker that picks this up, for inputs that leave them out. */
    restoreDefaults(): Promise<{ cluster: string; hostId: string }> {
      return Promise.resolve({ cluster: config.cluster, hostId: config.hostId });
    },

    /** Host: the data directory must be absent or empty, and nothing may run in it. */
    async prepareDataDir({ pgdata, cluster, restoreKey }: { pgdata: string; cluster: string; restoreKey: string }) {
      if (!path.isAbsolute(pgdata))
        throw ApplicationFailure.nonRetryable(`pgdata must be an absolute path, not "${pgdata}"`, DATA_DIR_NOT_EMPTY);
      let entries: string[] = [];
      try {
        entries = await fs.promises.readdir(pgdata);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      if (entries.includes('postmaster.pid')) {
        throw ApplicationFailure.nonRetryable(
          `${pgdata} holds a running (or crashed) PostgreSQL (postmaster.pid); stop it, or restore elsewhere`,
          DATA_DIR_NOT_EMPTY,
        );
      }
      if (entries.length > 0) {
        throw ApplicationFailure.nonRetryable(
          `${pgdata} is not empty (${entries.slice(0, 5).join(', ')}${entries.length > 5 ? ', ...' : ''}); restore only into an empty or new folder`,
          DATA_DIR_NOT_EMPTY,
        );
      }
      fs.mkdirSync(pgdata, { recursive: true, mode: 0o700 });
      fs.chmodSync(pgdata, 0o700);
      const workDir = path.join(config.spoolDir, cluster, 'restores', restoreKey);
      const prefetchDir = path.join(workDir, 'prefetch');
      fs.mkdirSync(prefetchDir, { recursive: true, mode: 0o700 });
      return { workDir, prefetchDir, logFile: path.join(workDir, 'postgres.log') };
    },

    /**
     * The given backup, or the best one any store holds: the newest complete backup that ends
     * before the target and whose every chunk some store still has. Read from the stores.
     */
    async chooseBackup({
      cluster,
      backupId,
      target,
      stores: only,
    }: {
      cluster: string;
      backupId?: string;
      target: RecoveryTarget;
      stores?: string[];
    }): Promise<ChosenBackup> {
      const ctx = Context.current();
      const from = ordered(only);
      const failovers: Failover[] = [];
      if (backupId) {
        const raw = await readAny(from, [backupManifestKey(cluster, backupId)], failovers, ctx.cancellationSignal);
        if (!raw)
          throw ApplicationFailure.nonRetryable(
            `backup ${backupId} of ${cluster} is not complete in any store (no manifest.json)`,
            NO_BACKUP,
          );
        const m = parseManifest(raw, backupId);
        // Chunks of a backup named are not listed here: one only in a store that is down is waited for by the download.
        const whole = await chainFor(cluster, m, from, failovers, ctx.cancellationSignal, false);
        if ('broken' in whole) {
          if (failovers.length > 0)
            throw new Error(`backup ${backupId} is not whole in the stores that answered: ${whole.broken}`);
          throw ApplicationFailure.nonRetryable(
            `backup ${backupId} cannot be restored: ${whole.broken}; choose another backup (walflow backups shows the chains)`,
            NO_BACKUP,
          );
        }
        return chosen(m, whole.chain);
      }
      // The stores alone decide: a manifest is there only for a complete backup, in any store.
      const ids = await listEverywhere(
        from,
        backupsPrefix(cluster),
        (key) => {
          const b = backupOfKey(cluster, key);
          return b?.isManifest ? b.backupId : undefined;
        },
        failovers,
        ctx.cancellationSignal,
      );
      const skipped: string[] = [];
      for (const id of [...ids].sort().reverse()) {
        const raw = await readAny(from, [backupManifestKey(cluster, id)], failovers, ctx.cancellationSignal);
        if (!raw) continue;
        const m = parseManifest(raw, id);
        if (target.kind === 'time' && new Date(m.stopTime) > new Date(target.value)) continue;
        if (target.kind === 'lsn' && parseLsn(m.stopLsn) > parseLsn(target.value)) continue;
        const whole = await chainFor(cluster, m, from, failovers, ctx.cancellationSignal, true);
        if ('broken' in whole) {
          skipped.push(`${id} (${whole.broken})`);
          continue;
        }
        if (skipped.length > 0)
          log.warn({ cluster, chosen: id, skipped }, 'newer backups skipped: they are not whole in the stores');
        return chosen(m, whole.chain);
      }
      const why = skipped.length > 0 ? `; skipped ${skipped.join(', ')}` : '';
      // The missing chunks may be in a store that did not answer: worth asking again.
      if (skipped.length > 0 && failovers.length > 0)
        throw new Error(`no backup of ${cluster} is whole in the stores that answered${why}: ${failovers.join('; ')}`);
      throw ApplicationFailure.nonRetryable(
        `no complete backup of ${cluster} ends before ${'value' in target ? target.value : target.kind}${why}; take one with 'walflow backup'`,
        NO_BACKUP,
      );
    },

    /**
     * Host: every chunk, each from any store with a verified copy, in order, into tar -x; then
     * pg_verifybackup. Heartbeats carry a resume point (the newest tar member boundary behind
     * which everything is unpacked), and a retried attempt goes on from there.
     */
    async downloadBackup({
      cluster,
      backupId,
      pgdata,
      stores: only,
      check = true,
    }: {
      cluster: string;
      backupId: string;
      pgdata: string;
      stores?: string[];
      /** false for a link of a chain: pg_verifybackup checks what pg_combinebackup makes of them. */
      check?: boolean;
    }) {
      const ctx = Context.current();
      fs.mkdirSync(pgdata, { recursive: true, mode: 0o700 });
      const from = ordered(only);
      const started = Date.now();
      const failovers: Failover[] = [];
      const manifestRaw = await readAny(
        from,
        [backupManifestKey(cluster, backupId)],
        failovers,
        ctx.cancellationSignal,
      );
      if (!manifestRaw)
        throw ApplicationFailure.nonRetryable(`backup ${backupId}: manifest.json is in no store`, NO_BACKUP);
      const manifest = parseManifest(manifestRaw, backupId);
      const verifyBackup = pgTool('pg_verifybackup', pgMajor(manifest.pgVersion)); // before any download
      const files = manifest.files;
      const boot = bootId();
      const resumed = await usableResumePoint(ctx.info.heartbeatDetails, manifest, boot, pgdata);
      if (!resumed && ctx.info.attempt > 1) {
        // prepareDataDir found it empty: whatever is there is a previous attempt's.
        await emptyFolder(pgdata);
      }
      if (resumed)
        log.info(
          { backupId, chunk: resumed.chunk, offset: resumed.offset, chunks: files.length },
          'backup download resumed',
        );

      const starts = streamOffsets(files);
      let point = resumed ?? { backupId, bootId: boot, chunk: 0, offset: 0 };
      let chunks = point.chunk,
        storedBytes = 0,
        step: 'unpack' | 'verify' = 'unpack';
      let verifyStarted = 0;
      const details = () => ({
        phase: 'download',
        step,
        bytes: starts[chunks],
        totalBytes: manifest.rawSize,
        chunks,
        totalChunks: files.length,
        ...(step === 'verify' ? { verifySeconds: Math.round((Date.now() - verifyStarted) / 1000) } : {}),
        ...(boot ? { resume: point } : {}),
      });
      const stop = beating(details);
      try {
        if (point.chunk < files.length) {
          const untar = new ResumableUntar(pgdata, starts[point.chunk] + point.offset);
          const prefix = backupPrefix(manifest.cluster, manifest.backupId);
          const fetchChunk = async (i: number) => {
            const { found, errors } = await readFromAnyStore(
              from,
              [prefix + files[i].name],
              config.encryption,
              ctx.cancellationSignal,
            );
            failovers.push(...errors);
            if (found) return found.raw;
            // A store that could not answer may hold it: retry (from the resume point) rather than give up.
            if (errors.length > 0)
              throw new Error(
                `backup ${manifest.backupId}: ${files[i].name} is in no store that answered: ${errors.join('; ')}`,
              );
            throw ApplicationFailure.nonRetryable(
              `backup ${manifest.backupId}: ${files[i].name} is in no store`,
              NO_BACKUP,
            );
          };
          try {
            for await (const [i, raw] of inOrder(point.chunk, files.length, PARALLEL_DOWNLOADS, fetchChunk)) {
              const cut = await untar.write(i === point.chunk ? raw.subarray(point.offset) : raw);
              chunks = i + 1;
              storedBytes += files[i].storedSize;
              if (cut !== undefined) {
                point = { backupId, bootId: boot, chunk: i, offset: cut - starts[i] };
                ctx.heartbeat(details());
              }
            }
            await untar.end();
          } catch (e) {
            untar.kill();
            throw e;
          }
          point = { backupId, bootId: boot, chunk: files.length, offset: 0 };
        }
        await fs.promises.chmod(pgdata, 0o700);
        if (!check) return summary();
        // Every chunk matched its SHA-256; pg_verifybackup now checks every unpacked file against
        // the backup_manifest PostgreSQL wrote into the backup (WAL comes later, from the archive).
        step = 'verify';
        verifyStarted = Date.now();
        ctx.heartbeat(details());
        const verify = await runProcess(verifyBackup, ['--no-parse-wal', '--quiet', pgdata], ctx.cancellationSignal);
        if (verify.status !== 0) {
          const problems = `pg_verifybackup found problems in ${pgdata}: ${verify.output.trim().split('\n').slice(0, 5).join(' | ')}`;
          // Chunks are checked and tar is deterministic: a fresh unpack that fails would fail again.
          if (!resumed) throw ApplicationFailure.nonRetryable(problems, BACKUP_CHECK_FAILED);
          // A resumed one may have gone on from a damaged folder: empty it, and the next attempt starts over.
          await emptyFolder(pgdata);
          throw new Error(`${problems}; the download was resumed, so the next attempt downloads it all again`);
        }
      } finally {
        stop();
      }
      return summary();

      function summary() {
        const bytes = manifest.rawSize;
        log.info(
          { backupId: manifest.backupId, pgdata, bytes, resumedAtChunk: resumed?.chunk, failovers: failovers.length },
          'backup downloaded',
        );
        return {
          bytes,
          storedBytes,
          chunks: files.length,
          resumedAtChunk: resumed?.chunk,
          failovers: failovers.slice(0, MAX_FAILOVERS_REPORTED),
          failoverCount: failovers.length,
          verified: check ? 'pg_verifybackup' : 'SHA-256 of each chunk',
          seconds: (Date.now() - started) / 1000,
        };
      }
    },

    /**
     * Host: pg_combinebackup of a chain's unpacked backups (full first) into the empty `pgdata`,
     * pg_verifybackup of the result, then the unpacked links are removed. A retry starts over
     * from the links, which stay until the combined backup has passed its check.
     */
    async combineBackups({ links, pgdata, pgVersion }: { links: string[]; pgdata: string; pgVersion: number }) {
      const ctx = Context.current();
      const started = Date.now();
      const major = pgMajor(pgVersion);
      const combine = pgTool('pg_combinebackup', major);
      const verifyBackup = pgTool('pg_verifybackup', major);
      await emptyFolder(pgdata);
      let step = 'combine';
      const stop = beating(() => ({ phase: 'combine', step }));
      try {
        const combined = await runProcess(combine, ['-o', pgdata, ...links], ctx.cancellationSignal);
        if (combined.status !== 0) {
          await emptyFolder(pgdata);
          throw new Error(`pg_combinebackup failed: ${combined.output.trim().split('\n').slice(-5).join(' | ')}`);
        }
        step = 'verify';
        const verify = await runProcess(verifyBackup, ['--no-parse-wal', '--quiet', pgdata], ctx.cancellationSignal);
        if (verify.status !== 0) {
          await emptyFolder(pgdata);
          throw ApplicationFailure.nonRetryable(
            `pg_verifybackup found problems in the combined backup ${pgdata}: ${verify.output.trim().split('\n').slice(0, 5).join(' | ')}`,
            BACKUP_CHECK_FAILED,
          );
        }
      } finally {
        stop();
      }
      await fs.promises.chmod(pgdata, 0o700);
      for (const dir of links) await fs.promises.rm(dir, { recursive: true, force: true });
      log.info({ pgdata, links: links.length }, 'backup chain combined');
      return { links: links.length, verified: 'pg_verifybackup', seconds: (Date.now() - started) / 1000 };
    },

    /**
     * Which WAL to prefetch: the target timeline's history files, and the archived segments of
     * its timeline path from the backup's start to the segment that covers the target. The
     * catalog's handover times bound the commits in a segment from above, so for a time target
     * the first segment handed over at or after it (plus one) is enough; fetch gets anything
     * else from the stores.
     */
    async planWal({
      cluster,
      manifest,
      target,
      targetTimeline,
      stores: only,
    }: {
      cluster: string;
      manifest: BackupRecord;
      target: RecoveryTarget;
      targetTimeline: number | 'latest';
      stores?: string[];
    }) {
      const ctx = Context.current();
      const failovers: Failover[] = [];
      let timeline = typeof targetTimeline === 'number' ? targetTimeline : manifest.timeline;
      if (targetTimeline === 'latest') {
        const hist = await db()
          .select({ timeline: walFiles.timeline })
          .from(walFiles)
          .where(and(eq(walFiles.cluster, cluster), eq(walFiles.kind, 'history')));
        timeline = Math.max(manifest.timeline, ...hist.map((h) => h.timeline));
      }
      // A timeline's history file lists every ancestor with its switch point.
      const path_ = [timeline];
      if (timeline > 1) {
        const name = `${timelineHex(timeline)}.history`;
        const raw = await readAny(
          ordered(only),
          walKeyCandidates(cluster, parseWalName(name)!),
          failovers,
          ctx.cancellationSignal,
        );
        if (!raw) throw ApplicationFailure.nonRetryable(`timeline ${timeline}: ${name} is in no store`, NO_BACKUP);
        for (const s of parseHistory(raw.toString())) path_.push(s.timeline);
      }
      const history = path_.filter((t) => t > 1).map((t) => `${timelineHex(t)}.history`);
      const segSize = manifest.segmentSize;
      const from = segmentStartLsn(segmentNumberOf(parseLsn(manifest.startLsn), segSize), segSize);
      // The segments a restore from this backup along this path may replay.
      const onPath = and(
        eq(walFiles.cluster, cluster),
        eq(walFiles.kind, 'segment'),
        inArray(walFiles.timeline, path_),
        gte(walFiles.startLsn, from),
      );
      const rows = await db()
        .select({ name: walFiles.name, startLsn: walFiles.startLsn, handedOverAt: walFiles.handedOverAt })
        .from(walFiles)
        .where(onPath)
        .orderBy(asc(walFiles.startLsn), asc(walFiles.timeline));
      let upTo: bigint | undefined;
      if (target.kind === 'lsn') upTo = parseLsn(target.value);
      if (target.kind === 'immediate') upTo = parseLsn(manifest.stopLsn);
      const stop = stopCondition(target);
      if (stop) {
        // The segment whose index holds where recovery stops, and the next one in case that
        // record runs into it: restore_command fetches from the stores whatever lies past them.
        const [first] = await db()
          .select({ startLsn: walFiles.startLsn })
          .from(walFiles)
          .where(and(onPath, stop))
          .orderBy(asc(walFiles.startLsn))
          .limit(1);
        if (first) upTo = first.startLsn! + BigInt(segSize);
      }
      if (upTo === undefined && target.kind === 'time') {
        // Segments archived without an index: the first handed over after the target is as far as it can be.
        const t = new Date(target.value);
        const first = rows.find((r) => r.handedOverAt >= t);
        if (first) upTo = first.startLsn! + BigInt(segSize);
      }
      const names = rows.filter((r) => upTo === undefined || r.startLsn! <= upTo).map((r) => r.name);
      // The list grows with the WAL since the backup: it goes to the catalog, where the host's
      // prefetch reads it, and the workflow carries its size and ends.
      const details = runOf(ctx);
      const writer = await DetailWriter.resume(db, details, [PREFETCH_SECTION]);
      for (const name of [...history, ...names]) writer.add(PREFETCH_SECTION, name);
      await writer.flush();
      return {
        timeline,
        timelines: path_,
        history,
        segmentCount: names.length,
        firstSegment: names[0] ?? null,
        lastSegment: names[names.length - 1] ?? null,
        failovers: failovers.slice(0, DETAIL_EXAMPLES),
        details,
      };
    },

    /**
     * Host: WAL files into the prefetch folder, verified, a few at a time: the list planWal wrote
     * to the catalog (`names` only in restores recorded before it did). Every name is one the
     * catalog records as archived: one that no store hands over fails the prefetch, since
     * recovery would otherwise end before it and promote with the rest missing. Recovery may run
     * meanwhile: the folder's state tells fetch whether to wait for a file. Each downloader
     * starts with another store, so that every store serves its share.
     */
    async prefetchWal({
      cluster,
      names,
      plan,
      dir,
      stores: only,
    }: {
      cluster: string;
      names?: string[];
      plan?: { details: RunRef; files: number };
      dir: string;
      stores?: string[];
    }) {
      const ctx = Context.current();
      const from = ordered(only);
      const started = Date.now();
      const failovers: Failover[] = [];
      let done = 0,
        bytes = 0,
        failoverCount = 0;
      const total = names?.length ?? plan?.files ?? 0;
      const stop = beating(() => ({ phase: 'prefetch', segments: done, totalSegments: total, bytes }));
      setPrefetchState(dir, 'running');
      const alive = setInterval(() => touchPrefetchState(dir), PREFETCH_BEAT_MS);
      // One source shared by the downloaders: an async generator hands each name out once.
      const source = (async function* () {
        if (names) yield* names;
        else for await (const d of readDetails<string>(db, plan!.details, PREFETCH_SECTION)) yield d.item;
      })();
      let failed = false;
      try {
        const worker = async (k: number) => {
          const order = [...from.slice(k % from.length), ...from.slice(0, k % from.length)];
          for (let next = await source.next(); !next.done && !failed; next = await source.next()) {
            const name = next.value;
            const file = path.join(dir, name);
            if (!fs.existsSync(file)) {
              // a retried attempt keeps what it already has
              const keys = walKeyCandidates(cluster, parseWalName(name)!, config.compression);
              const { found, errors, absent } = await readFromAnyStore(
                order,
                keys,
                config.encryption,
                ctx.cancellationSignal,
              );
              failoverCount += errors.length;
              failovers.push(...errors.slice(0, DETAIL_EXAMPLES - failovers.length));
              if (!found && errors.length > 0) {
                throw new Error(
                  `${name}: no store handed over a verified copy (${[...errors, ...absent.map((a) => `${a}: no such file`)].join('; ')}); ` +
                    'to restore from the stores that answer, start the restore again with --stores NAME,...',
                );
              }
              if (!found) {
                throw ApplicationFailure.nonRetryable(
                  `${name} is recorded as archived but no store has it; 'walflow verify' reports the gap`,
                  WAL_MISSING,
                );
              }
              await writeFileDurably(file, found.raw, path.join(dir, '..', 'tmp'));
              bytes += found.raw.length;
            }
            recordLanded(dir, name);
            done++;
          }
        };
        await Promise.all(
          Array.from({ length: PARALLEL_DOWNLOADS }, (_, k) =>
            worker(k).catch((e) => {
              failed = true;
              throw e;
            }),
          ),
        );
        setPrefetchState(dir, 'done');
      } catch (e) {
        // fetch stops waiting for what this attempt would have brought, and reads the stores itself
        try {
          setPrefetchState(dir, 'failed');
        } catch {
          /* the folder went with a finished restore */
        }
        throw e;
      } finally {
        failed = true; // after a failure, the other downloaders stop too
        clearInterval(alive);
        stop();
      }
      return { segments: done, bytes, failovers, failoverCount, seconds: (Date.now() - started) / 1000 };
    },

    /**
     * The newest complete segment any store holds on a timeline, from the stores' listings (the
     * catalog may lag behind them): a restore to the end of the archive must reach it.
     */
    async newestArchivedSegment({
      cluster,
      timeline,
      stores: only,
    }: {
      cluster: string;
      timeline: number;
      stores?: string[];
    }) {
      const ctx = Context.current();
      let newest: { name: string; store: string } | undefined;
      for (const s of ordered(only)) {
        for await (const o of s.list(`${walPrefix(cluster)}${timelineHex(timeline)}/`, ctx.cancellationSignal)) {
          const name = walNameOfKey(o.key);
          if (name && parseWalName(name)?.kind === 'segment' && (!newest || name > newest.name))
            newest = { name, store: s.name };
        }
        ctx.heartbeat();
      }
      return newest;
    },

    /**
     * Host: restore_command, the target, promote, and recovery.signal; archive_mode off unless
     * asked. First, whatever recovery settings the backup brought along are disabled: an old
     * target left in force would win over this restore's. With `prefetchPlan`, the WAL list
     * planWal wrote goes into the prefetch folder too, before PostgreSQL can ask for any of it:
     * fetch waits for those files while the prefetch runs, and never reports one as missing.
     */
    async writeRecoverySettings({
      cluster,
      pgdata,
      workDir,
      prefetchDir,
      target,
      targetTimeline,
      port,
      archive,
      stores: only,
      prefetchPlan,
    }: {
      cluster: string;
      pgdata: string;
      workDir: string;
      prefetchDir: string;
      target: RecoveryTarget;
      targetTimeline: number | 'latest';
      port?: number;
      archive?: boolean;
      stores?: string[];
      prefetchPlan?: RunRef;
    }) {
      if (prefetchPlan) {
        const names: string[] = [];
        for await (const d of readDetails<string>(db, prefetchPlan, PREFETCH_SECTION)) names.push(d.item + '\n');
        await writeFileDurably(plannedFile(prefetchDir), Buffer.from(names.join('')), path.join(workDir, 'tmp'));
      }
      // fetch reads its settings from here: the stores of this worker (or those the restore
      // names), their encryption keys, the source cluster's name.
      const envFile = path.join(workDir, RESTORE_ENV_FILE);
      const names = ordered(only).map((s) => s.name);
      const env = Object.entries(process.env)
        .filter(
          ([k]) =>
            k === 'WALFLOW_COMPRESSION' ||
            k.startsWith('WALFLOW_FETCH_') ||
            k.startsWith('WALFLOW_ENCRYPTION_') ||
            names.some((n) => k.startsWith(storeSettingPrefix(n))),
        )
        .map(([k, v]) => `${k}=${v}`);
      env.push(`WALFLOW_STORES=${names.join(',')}`);
      env.push(`WALFLOW_CLUSTER=${cluster}`, `WALFLOW_PREFETCH_DIR=${prefetchDir}`);
      // Store credentials: readable by this user only from the first byte on.
      await writeFileDurably(envFile, Buffer.from(env.join('\n') + '\n'), workDir, 0o600);
      const disabled = await disableBackupRecoverySettings(pgdata);
      const q = confString;
      // --prefetch-dir right after %p: bin/walflow moves a prefetched file itself, without starting Node.
      const restoreCommand = `${shellQuote(WALFLOW_BIN)} fetch %f %p --prefetch-dir ${shellQuote(prefetchDir)} --env-file ${shellQuote(envFile)}`;
      const lines = [
        '',
        `# written by walflow restore at ${new Date().toISOString()}`,
        `restore_command = ${q(restoreCommand)}`,
        // Once recovery has ended, PostgreSQL runs this in its data folder (where the cluster is
        // by then, even if moved): the settings above go, so that this cluster's own backups
        // never carry them. It works whoever starts PostgreSQL and whenever, with or without
        // --start and without walflow's worker; startRestored repeats it (a failing
        // recovery_end_command is only a warning). Should both miss it, the next restore
        // disables them anyway.
        `recovery_end_command = ${q(`${shellQuote(WALFLOW_BIN)} recovery-end --forget ${shellQuote(envFile)}`)}`,
        `recovery_target_timeline = ${q(String(targetTimeline))}`,
        ...(target.kind === 'time' ? [`recovery_target_time = ${q(pgTime(target.value))}`] : []),
        ...(target.kind === 'lsn' ? [`recovery_target_lsn = ${q(target.value)}`] : []),
        ...(target.kind === 'name' ? [`recovery_target_name = ${q(target.value)}`] : []),
        ...(target.kind === 'xid' ? [`recovery_target_xid = ${q(target.value)}`] : []),
        ...(target.kind === 'immediate' ? [`recovery_target = 'immediate'`] : []),
        ...(target.kind === 'end' ? [] : [`recovery_target_action = 'promote'`]),
        // The restored cluster is a copy: it must not push its WAL into the source's archive,
        // take changes meant for the source from a publisher (its subscriptions would use the
        // source's replication slots), or be reached from elsewhere before someone opens it.
        ...(archive ? [] : [`archive_mode = 'off'`]),
        `max_logical_replication_workers = 0`,
        `listen_addresses = 'localhost'`,
        ...(port ? [`port = ${port}`] : []),
      ];
      const wroteConfig = describeWrittenConfig(await writeMissingConfig(pgdata));
      const autoConf = path.join(pgdata, 'postgresql.auto.conf');
      const kept = fs.existsSync(autoConf) ? fs.readFileSync(autoConf, 'utf8') : '';
      await writeFileDurably(autoConf, Buffer.from(kept + lines.join('\n') + '\n'));
      await writeFileDurably(path.join(pgdata, 'recovery.signal'), Buffer.alloc(0));
      return { envFile, restoreCommand, disabled, wroteConfig };
    },

    /**
     * Host: starts PostgreSQL on the restored data and waits until it has promoted. `mustReach`:
     * a segment that recovery must have replayed into, else it stopped early (a restore to the
     * end of the archive, which PostgreSQL ends at the first file restore_command reports missing).
     */
    async startRestored({
      pgdata,
      logFile,
      envFile,
      mustReach,
    }: {
      pgdata: string;
      logFile: string;
      /** fetch.env, removed once recovery has ended (recovery_end_command did it, unless it failed). */
      envFile?: string;
      mustReach?: { name: string; store: string; segmentSize: number };
    }) {
      const ctx = Context.current();
      const started = Date.now();
      const user = process.getuid?.() === 0 ? postgresUser() : undefined; // PostgreSQL refuses root
      const major = dataDirMajor(pgdata);
      if (!fs.existsSync(path.join(pgdata, 'postmaster.pid'))) {
        execFileSync(pgTool('pg_ctl', major), ['-D', pgdata, '-l', logFile, '-W', 'start'], {
          stdio: 'ignore',
          cwd: '/',
          env: serverEnv(),
          ...(user ?? {}),
        });
      }
      const stop = beating(() => ({ phase: 'recovery', log: tail(logFile, 1) }));
      let seen = false;
      try {
        for (;;) {
          if (ctx.cancellationSignal.aborted) throw new Error('cancelled');
          const state = /Database cluster state:\s+(.+)/.exec(
            execFileSync(pgTool('pg_controldata', major), ['-D', pgdata], {
              encoding: 'utf8',
              env: { ...process.env, LC_ALL: 'C' },
            }),
          )?.[1];
          // Promoted (control file) and accepting connections (postmaster.pid's status line).
          if (state === 'in production' && pmStatus(pgdata) === 'ready') break;
          // pg_ctl -W returns before the postmaster writes its pid file; a FATAL exit removes it.
          const alive = postmasterAlive(pgdata);
          if (alive) seen = true;
          if (alive === false || (alive === undefined && (seen || Date.now() - started > 60_000))) {
            const log = tail(logFile, 200).split('\n');
            const fatal = log
              .filter((l) => /FATAL|PANIC/.test(l))
              .slice(-3)
              .join(' | ');
            // restore_command's stderr is in PostgreSQL's log: fetch says why recovery had to stop.
            const fetchSaid = log.filter((l) => l.startsWith('walflow fetch ')).pop();
            throw ApplicationFailure.nonRetryable(
              `PostgreSQL stopped during recovery: ${fetchSaid ? `${fetchSaid} | ` : ''}${fatal || tail(logFile, 5)} (log: ${logFile})`,
              RECOVERY_FAILED,
            );
          }
          await new Promise((r) => setTimeout(r, 500));
        }
      } finally {
        stop();
      }
      await disableRestoreSettings(pgdata); // recovery_end_command did it, unless it failed
      if (envFile) await forgetRestoreEnv(envFile);
      const text = tail(logFile, 5000);
      const last = (re: RegExp) => [...text.matchAll(re)].pop();
      const redo = last(/redo done at ([0-9A-F]+\/[0-9A-F]+)/g)?.[1];
      const stopping = last(/recovery stopping (.*)/g)?.[1];
      const tx = last(/last completed transaction was at log time (.+)/g)?.[1];
      const tli = last(/selected new timeline ID: (\d+)/g)?.[1];
      const mustStart =
        mustReach && startLsnOf(parseWalName(mustReach.name, mustReach.segmentSize)!, mustReach.segmentSize)!;
      if (mustStart !== undefined && !(redo && parseLsn(redo) >= mustStart)) {
        throw ApplicationFailure.nonRetryable(
          `restore ended at ${redo ?? 'an unknown LSN'}, the archive holds WAL up to ${mustReach!.name} ` +
            `(in ${mustReach!.store}): recovery stopped early and ${pgdata} lacks committed transactions; do not use it, ` +
            "and run 'walflow verify' to find the gap",
          RECOVERY_FAILED,
        );
      }
      return {
        reachedLsn: redo ? formatLsn(parseLsn(redo)) : undefined,
        reachedTime: tx ? logTime(tx) : undefined,
        stoppedAt: stopping,
        timeline: tli ? Number(tli) : undefined,
        seconds: (Date.now() - started) / 1000,
      };
    },

    /** A failed restore's store credentials: nothing will recover from its folder. */
    async forgetRestoreCredentials({ workDir }: { workDir: string }) {
      await forgetRestoreEnv(path.join(workDir, RESTORE_ENV_FILE));
    },

    /** Removes what fetch did not use; PostgreSQL has its own copies now. */
    async cleanupPrefetch({ prefetchDir }: { prefetchDir: string }) {
      await fs.promises.rm(prefetchDir, { recursive: true, force: true });
    },

    async recordRestore(r: {
      cluster: string;
      workflowId: string;
      startedAt: string;
      outcome: 'ok' | 'failed';
      summary: Record<string, unknown>;
    }) {
      await db()
        .insert(runs)
        .values({
          cluster: r.cluster,
          kind: 'restore',
          workflowId: r.workflowId,
          startedAt: new Date(r.startedAt),
          outcome: r.outcome,
          summary: r.summary,
        });
    },
  };
}

/** Runs a tool without blocking the event loop; its exit status and the start of its output. */
function runProcess(
  cmd: string,
  args: string[],
  signal: AbortSignal,
): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: '/', stdio: ['ignore', 'pipe', 'pipe'], signal });
    let output = '';
    const keep = (d: Buffer) => {
      if (output.length < 64 << 10) output += d.toString();
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (e) => {
      output += e.message;
    });
    child.on('close', (status) => resolve({ status, output }));
  });
}

async function emptyFolder(dir: string): Promise<void> {
  for (const e of await fs.promises.readdir(dir))
    await fs.promises.rm(path.join(dir, e), { recursive: true, force: true });
}

/** Where each chunk starts in the backup's tar stream; the last entry is the stream's length. */
function streamOffsets(files: BackupFile[]): number[] {
  const starts = [0];
  for (const f of files) starts.push(starts[starts.length - 1] + f.rawSize);
  return starts;
}

/**
 * Where a retried download goes on: chunk `chunk` from byte `offset`, where a tar member
 * starts (chunk = the number of chunks: everything is unpacked, only the check is left).
 */
interface ResumePoint {
  backupId: string;
  bootId: string | undefined;
  chunk: number;
  offset: number;
}

/** The previous attempt's resume point, when it still describes what is in pgdata. */
async function usableResumePoint(
  details: unknown,
  manifest: BackupManifest,
  boot: string | undefined,
  pgdata: string,
): Promise<ResumePoint | undefined> {
  const r = (details as { resume?: ResumePoint } | undefined)?.resume;
  if (!r || !boot || r.bootId !== boot || r.backupId !== manifest.backupId) return undefined;
  const n = manifest.files.length;
  if (!Number.isInteger(r.chunk) || r.chunk < 0 || r.chunk > n) return undefined;
  if (!Number.isInteger(r.offset) || r.offset < 0 || r.offset >= (r.chunk < n ? manifest.files[r.chunk].rawSize : 1))
    return undefined;
  // Emptied since (a failed check does that): nothing to go on from.
  return (await fs.promises.readdir(pgdata)).length > 0 ? r : undefined;
}

/** fetch(i) for i from `from` up to `to`, in order, with up to `ahead` fetches in flight. */
async function* inOrder<T>(
  from: number,
  to: number,
  ahead: number,
  fetch: (i: number) => Promise<T>,
): AsyncGenerator<[number, T]> {
  const pending: Promise<T>[] = [];
  let next = from;
  for (let i = from; i < to; i++) {
    while (next < to && pending.length < ahead) {
      const p = fetch(next++);
      p.catch(() => undefined); // a fetch abandoned after an earlier failure must not crash the worker
      pending.push(p);
    }
    yield [i, await pending.shift()!];
  }
}

function withoutFiles(m: BackupManifest): BackupRecord {
  const { files, ...record } = m;
  return { ...record, fileCount: files.length };
}

/** The chosen backup, and for an incremental the chain that restores it (backup ids, full first). */
type ChosenBackup = BackupRecord & { chain?: string[] };

function chosen(m: BackupManifest, chain: string[]): ChosenBackup {
  return chain.length > 1 ? { ...withoutFiles(m), chain } : withoutFiles(m);
}

/** true: running; false: the pid file names a dead process; undefined: no pid file. */
function postmasterAlive(pgdata: string): boolean | undefined {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(path.join(pgdata, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return undefined;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One word for /bin/sh, which runs PostgreSQL's commands. */
function shellQuote(v: string): string {
  return /^[\w./=:@%+-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

/** PostgreSQL's recovery_target_time refuses ISO 8601's T and Z: '2026-01-31 12:00:00.5+00' instead. */
function pgTime(value: string): string {
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : d.toISOString().replace('T', ' ').replace('Z', '+00');
}

/** PostgreSQL's log time ('2026-01-31 12:00:00.123456+01') as ISO 8601; as logged when it will not parse. */
function logTime(text: string): string {
  const d = new Date(
    text
      .trim()
      .replace(' ', 'T')
      .replace(/([+-]\d\d)$/, '$1:00'),
  );
  return Number.isNaN(d.getTime()) ? text.trim() : d.toISOString();
}

function pmStatus(pgdata: string): string | undefined {
  try {
    return fs.readFileSync(path.join(pgdata, 'postmaster.pid'), 'utf8').split('\n')[7]?.trim();
  } catch {
    return undefined;
  }
}

function tail(file: string, lines: number): string {
  try {
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .slice(-lines - 1)
      .join('\n');
  } catch {
    return '';
  }
}

/**
 * The environment of a restored PostgreSQL: locale, time zone and PATH only. Never the
 * worker's own: its store credentials and WALFLOW_* settings would reach every process the
 * server starts, and would win over restore_command's --env-file, which names the stores
 * this restore reads.
 */
function serverEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => k === 'PATH' || k === 'TZ' || k === 'LANG' || k.startsWith('LC_')),
  );
}

/**
 * Where a segment's index shows recovery stopping for a time or restore point target: a commit
 * or abort later than the time (PostgreSQL stops at the first), or the restore point itself.
 */
function stopCondition(target: RecoveryTarget): SQL | undefined {
  if (target.kind === 'name')
    return sql`${walFiles.walIndex}->'restorePoints' @> jsonb_build_array(jsonb_build_object('name', ${target.value}::text))`;
  if (target.kind !== 'time') return undefined;
  const micros = timeMicros(target.value);
  if (micros === null) return undefined;
  // Index times are UTC with six fraction digits: they compare as text.
  const t = indexTime(micros);
  return sql`(${walFiles.walIndex}->'commitTimes'->>1 > ${t} OR ${walFiles.walIndex}->'abortTimes'->>1 > ${t})`;
}
