// Restore activities: choose a backup, download and unpack it, prefetch its WAL, write the
// recovery settings, start PostgreSQL and watch it reach the target. Host activities touch
// the data directory; choosing and planning read the stores and the catalog (any worker).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { and, asc, eq, gte, inArray } from 'drizzle-orm';
import type { Catalog } from '../db/client';
import { runs, walFiles } from '../db/schema';
import type { Config } from '../lib/config';
import { pgBin, postgresUser, ROOT } from '../lib/devstack/procs';
import { writeFileDurably } from '../lib/fsutil';
import { backupPrefix } from '../lib/keys';
import type { Logger } from '../lib/log';
import type { Store } from '../lib/stores/store';
import { readFromAnyStore } from '../lib/verified';
import { walKeyCandidates } from '../lib/walkeys';
import { formatLsn, parseLsn, segmentNumberOf, segmentStartLsn } from '../lib/wal/lsn';
import { parseWalName, timelineHex } from '../lib/wal/name';
import {
  BackupManifest, BackupRecord, DATA_DIR_NOT_EMPTY, NO_BACKUP, RecoveryTarget, RECOVERY_FAILED,
} from '../workflows/pitr-types';
import { MANIFEST } from './basebackup';

const HEARTBEAT_MS = 5_000;
const PARALLEL_DOWNLOADS = 4;

/** What an object could not be read from; the next store was used instead. */
type Failover = string;

export function restoreActivities(config: Config, stores: Map<string, Store>, db: () => Catalog, log: Logger) {
  const ordered = () => [...stores.values()];

  /** Reads one object from the first store that has a verified copy; throws when none has. */
  async function readAny(keys: string[], failovers: Failover[], signal: AbortSignal): Promise<Buffer | undefined> {
    const { found, errors } = await readFromAnyStore(ordered(), keys, signal);
    failovers.push(...errors);
    if (!found && errors.length === stores.size) throw new Error(`no store could be read for ${keys[0]}: ${errors.join('; ')}`);
    return found?.raw;
  }

  /** What `pick` makes of each key under `prefix`, from every store that can be listed. */
  async function listEverywhere(prefix: string, pick: (key: string) => string | undefined, failovers: Failover[], signal: AbortSignal): Promise<Set<string>> {
    const found = new Set<string>();
    let listed = 0;
    for (const s of ordered()) {
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

  function beating(details: () => unknown): () => void {
    const ctx = Context.current();
    const t = setInterval(() => ctx.heartbeat(details()), HEARTBEAT_MS);
    return () => clearInterval(t);
  }

  return {
    /** The cluster and host of the worker that picks this up, for inputs that leave them out. */
    async restoreDefaults(): Promise<{ cluster: string; hostId: string }> {
      return { cluster: config.cluster, hostId: config.hostId };
    },

    /** Host: the data directory must be absent or empty, and nothing may run in it. */
    async prepareDataDir({ pgdata, cluster, restoreKey }: { pgdata: string; cluster: string; restoreKey: string }) {
      if (!path.isAbsolute(pgdata)) throw ApplicationFailure.nonRetryable(`pgdata must be an absolute path, not "${pgdata}"`, DATA_DIR_NOT_EMPTY);
      let entries: string[] = [];
      try {
        entries = fs.readdirSync(pgdata);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      if (entries.includes('postmaster.pid')) {
        throw ApplicationFailure.nonRetryable(`${pgdata} holds a running (or crashed) PostgreSQL (postmaster.pid); stop it, or restore elsewhere`, DATA_DIR_NOT_EMPTY);
      }
      if (entries.length > 0) {
        throw ApplicationFailure.nonRetryable(`${pgdata} is not empty (${entries.slice(0, 5).join(', ')}${entries.length > 5 ? ', ...' : ''}); restore only into an empty or new folder`, DATA_DIR_NOT_EMPTY);
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
    async chooseBackup({ cluster, backupId, target }: { cluster: string; backupId?: string; target: RecoveryTarget }): Promise<BackupRecord> {
      const ctx = Context.current();
      const failovers: Failover[] = [];
      if (backupId) {
        const raw = await readAny([backupPrefix(cluster, backupId) + MANIFEST], failovers, ctx.cancellationSignal);
        if (!raw) throw ApplicationFailure.nonRetryable(`backup ${backupId} of ${cluster} is not complete in any store (no manifest.json)`, NO_BACKUP);
        return withoutFiles(JSON.parse(raw.toString()) as BackupManifest);
      }
      // The stores alone decide: a manifest is there only for a complete backup, in any store.
      const ids = await listEverywhere(`${cluster}/backups/`,
        (key) => (key.endsWith(`/${MANIFEST}`) ? key.split('/').slice(-2)[0] : undefined), failovers, ctx.cancellationSignal);
      const skipped: string[] = [];
      for (const id of [...ids].sort().reverse()) {
        const raw = await readAny([backupPrefix(cluster, id) + MANIFEST], failovers, ctx.cancellationSignal);
        if (!raw) continue;
        const m = JSON.parse(raw.toString()) as BackupManifest;
        if (target.kind === 'time' && new Date(m.stopTime) > new Date(target.value)) continue;
        if (target.kind === 'lsn' && parseLsn(m.stopLsn) > parseLsn(target.value)) continue;
        const prefix = backupPrefix(cluster, id);
        const held = await listEverywhere(prefix, (key) => key, failovers, ctx.cancellationSignal);
        const missing = m.files.filter((f) => !held.has(prefix + f.name));
        if (missing.length > 0) {
          skipped.push(`${id} (${missing.length} chunk(s) in no store, such as ${missing[0].name})`);
          continue;
        }
        if (skipped.length > 0) log.warn({ cluster, chosen: id, skipped }, 'newer backups skipped: some of their chunks are in no store');
        return withoutFiles(m);
      }
      const why = skipped.length > 0 ? `; skipped ${skipped.join(', ')}` : '';
      throw ApplicationFailure.nonRetryable(`no complete backup of ${cluster} ends before ${'value' in target ? target.value : target.kind}${why}; take one with 'walflow backup'`, NO_BACKUP);
    },

    /** Host: every chunk from the first store with a verified copy, in order, into tar -x. */
    async downloadBackup({ cluster, backupId, pgdata }: { cluster: string; backupId: string; pgdata: string }) {
      const ctx = Context.current();
      const started = Date.now();
      const failovers: Failover[] = [];
      const manifestRaw = await readAny([backupPrefix(cluster, backupId) + MANIFEST], failovers, ctx.cancellationSignal);
      if (!manifestRaw) throw ApplicationFailure.nonRetryable(`backup ${backupId}: manifest.json is in no store`, NO_BACKUP);
      const manifest = JSON.parse(manifestRaw.toString()) as BackupManifest;
      if (ctx.info.attempt > 1) {
        // prepareDataDir found it empty: whatever is there is a previous attempt's.
        for (const e of fs.readdirSync(pgdata)) fs.rmSync(path.join(pgdata, e), { recursive: true, force: true });
      }
      const tar = spawn('tar', ['-x', '-f', '-', '-C', pgdata], { stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      tar.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      const exited = new Promise<number | null>((resolve) => tar.on('close', resolve));
      tar.stdin.on('error', () => undefined); // reported through tar's exit code
      let bytes = 0, storedBytes = 0, chunks = 0;
      const stop = beating(() => ({ phase: 'download', bytes, totalBytes: manifest.rawSize, chunks, totalChunks: manifest.files.length }));
      try {
        const prefix = backupPrefix(manifest.cluster, manifest.backupId);
        // Keep a few downloads ahead of the one being written.
        const fetchChunk = async (i: number) => {
          const f = manifest.files[i];
          const raw = await readAny([prefix + f.name], failovers, ctx.cancellationSignal);
          if (!raw) throw ApplicationFailure.nonRetryable(`backup ${manifest.backupId}: ${f.name} is in no store`, NO_BACKUP);
          return raw;
        };
        const ahead: Promise<Buffer>[] = [];
        for (let i = 0; i < Math.min(PARALLEL_DOWNLOADS, manifest.files.length); i++) ahead.push(fetchChunk(i));
        for (let i = 0; i < manifest.files.length; i++) {
          const raw = await ahead.shift()!;
          if (i + PARALLEL_DOWNLOADS < manifest.files.length) ahead.push(fetchChunk(i + PARALLEL_DOWNLOADS));
          if (!tar.stdin.write(raw)) await new Promise((r) => tar.stdin.once('drain', r));
          bytes += raw.length; storedBytes += manifest.files[i].storedSize; chunks++;
        }
        ahead.forEach((p) => p.catch(() => undefined));
        tar.stdin.end();
        const code = await exited;
        if (code !== 0) throw new Error(`tar -x into ${pgdata} exited with ${code}: ${stderr.trim()}`);
      } catch (e) {
        tar.kill();
        throw e;
      } finally {
        stop();
      }
      fs.chmodSync(pgdata, 0o700);
      // Every chunk matched its SHA-256; pg_verifybackup now checks every unpacked file against
      // the backup_manifest PostgreSQL wrote into the backup (WAL comes later, from the archive).
      const verify = spawnSyncText(pgBin('pg_verifybackup'), ['--no-parse-wal', '--quiet', pgdata]);
      if (verify.status !== 0) throw new Error(`pg_verifybackup found problems in ${pgdata}: ${verify.output.trim().split('\n').slice(0, 5).join(' | ')}`);
      log.info({ backupId: manifest.backupId, pgdata, bytes, failovers: failovers.length }, 'backup downloaded');
      return { bytes, storedBytes, chunks, failovers, verified: 'pg_verifybackup', seconds: (Date.now() - started) / 1000 };
    },

    /**
     * Which WAL to prefetch: the target timeline's history files, and the archived segments of
     * its timeline path from the backup's start to the segment that covers the target. The
     * catalog's handover times bound the commits in a segment from above, so for a time target
     * the first segment handed over at or after it (plus one) is enough; fetch gets anything
     * else from the stores.
     */
    async planWal({ cluster, manifest, target, targetTimeline }: {
      cluster: string; manifest: BackupRecord; target: RecoveryTarget; targetTimeline: number | 'latest';
    }) {
      const ctx = Context.current();
      const failovers: Failover[] = [];
      let timeline = typeof targetTimeline === 'number' ? targetTimeline : manifest.timeline;
      if (targetTimeline === 'latest') {
        const hist = await db().select({ timeline: walFiles.timeline }).from(walFiles)
          .where(and(eq(walFiles.cluster, cluster), eq(walFiles.kind, 'history')));
        timeline = Math.max(manifest.timeline, ...hist.map((h) => h.timeline));
      }
      // A timeline's history file lists every ancestor with its switch point.
      const path_ = [timeline];
      if (timeline > 1) {
        const name = `${timelineHex(timeline)}.history`;
        const raw = await readAny(walKeyCandidates(cluster, parseWalName(name)!), failovers, ctx.cancellationSignal);
        if (!raw) throw ApplicationFailure.nonRetryable(`timeline ${timeline}: ${name} is in no store`, NO_BACKUP);
        for (const m of raw.toString().matchAll(/^\s*(\d+)\s/gm)) path_.push(Number(m[1]));
      }
      const history = path_.filter((t) => t > 1).map((t) => `${timelineHex(t)}.history`);
      const segSize = manifest.segmentSize;
      const from = segmentStartLsn(segmentNumberOf(parseLsn(manifest.startLsn), segSize), segSize);
      const rows = await db().select({ name: walFiles.name, startLsn: walFiles.startLsn, handedOverAt: walFiles.handedOverAt })
        .from(walFiles)
        .where(and(eq(walFiles.cluster, cluster), eq(walFiles.kind, 'segment'), inArray(walFiles.timeline, path_), gte(walFiles.startLsn, from)))
        .orderBy(asc(walFiles.startLsn), asc(walFiles.timeline));
      let upTo: bigint | undefined;
      if (target.kind === 'lsn') upTo = parseLsn(target.value);
      if (target.kind === 'immediate') upTo = parseLsn(manifest.stopLsn);
      if (target.kind === 'time') {
        const t = new Date(target.value);
        const first = rows.find((r) => r.handedOverAt >= t);
        if (first) upTo = first.startLsn! + BigInt(segSize);
      }
      const names = rows.filter((r) => upTo === undefined || r.startLsn! <= upTo).map((r) => r.name);
      return { timeline, timelines: path_, history, segments: names, failovers };
    },

    /** Host: WAL files into the prefetch folder, verified, a few at a time. */
    async prefetchWal({ cluster, names, dir }: { cluster: string; names: string[]; dir: string }) {
      const ctx = Context.current();
      const started = Date.now();
      const failovers: Failover[] = [];
      const missing: string[] = [];
      let done = 0, bytes = 0;
      const stop = beating(() => ({ phase: 'prefetch', segments: done, totalSegments: names.length, bytes }));
      try {
        const queue = [...names];
        const worker = async () => {
          for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
            const file = path.join(dir, name);
            if (!fs.existsSync(file)) { // a retried attempt keeps what it already has
              const raw = await readAny(walKeyCandidates(cluster, parseWalName(name)!, config.compression), failovers, ctx.cancellationSignal);
              if (!raw) { missing.push(name); continue; }
              await writeFileDurably(file, raw, path.join(dir, '..', 'tmp'));
              bytes += raw.length;
            }
            done++;
          }
        };
        await Promise.all(Array.from({ length: PARALLEL_DOWNLOADS }, worker));
      } finally {
        stop();
      }
      return { segments: done, bytes, missing, failovers, seconds: (Date.now() - started) / 1000 };
    },

    /** Host: restore_command, the target, promote, and recovery.signal; archive_mode off unless asked. */
    async writeRecoverySettings({ cluster, pgdata, workDir, prefetchDir, target, targetTimeline, port, archive }: {
      cluster: string; pgdata: string; workDir: string; prefetchDir: string; target: RecoveryTarget;
      targetTimeline: number | 'latest'; port?: number; archive?: boolean;
    }) {
      // fetch reads its settings from here: the stores of this worker, the source cluster's name.
      const envFile = path.join(workDir, 'fetch.env');
      const env = Object.entries(process.env)
        .filter(([k]) => k === 'WALFLOW_STORES' || k === 'WALFLOW_COMPRESSION' || k.startsWith('WALFLOW_STORE_'))
        .map(([k, v]) => `${k}=${v}`);
      env.push(`WALFLOW_CLUSTER=${cluster}`, `WALFLOW_PREFETCH_DIR=${prefetchDir}`);
      await writeFileDurably(envFile, Buffer.from(env.join('\n') + '\n'));
      fs.chmodSync(envFile, 0o600); // store credentials
      const q = (v: string) => `'${v.replace(/'/g, "''")}'`;
      const restoreCommand = `${path.join(ROOT, 'bin', 'walflow')} fetch %f %p --env-file ${envFile}`;
      const lines = [
        '', `# written by walflow restore at ${new Date().toISOString()}`,
        `restore_command = ${q(restoreCommand)}`,
        `recovery_target_timeline = ${q(String(targetTimeline))}`,
        ...(target.kind === 'time' ? [`recovery_target_time = ${q(pgTime(target.value))}`] : []),
        ...(target.kind === 'lsn' ? [`recovery_target_lsn = ${q(target.value)}`] : []),
        ...(target.kind === 'name' ? [`recovery_target_name = ${q(target.value)}`] : []),
        ...(target.kind === 'xid' ? [`recovery_target_xid = ${q(target.value)}`] : []),
        ...(target.kind === 'immediate' ? [`recovery_target = 'immediate'`] : []),
        ...(target.kind === 'end' ? [] : [`recovery_target_action = 'promote'`]),
        // The restored cluster is a copy: it must not push its WAL into the source's archive.
        ...(archive ? [] : [`archive_mode = 'off'`]),
        ...(port ? [`port = ${port}`] : []),
      ];
      fs.appendFileSync(path.join(pgdata, 'postgresql.auto.conf'), lines.join('\n') + '\n');
      fs.writeFileSync(path.join(pgdata, 'recovery.signal'), '');
      return { envFile, restoreCommand };
    },

    /** Host: starts PostgreSQL on the restored data and waits until it has promoted. */
    async startRestored({ pgdata, logFile }: { pgdata: string; logFile: string }) {
      const ctx = Context.current();
      const started = Date.now();
      const user = process.getuid?.() === 0 ? postgresUser() : undefined; // PostgreSQL refuses root
      if (!fs.existsSync(path.join(pgdata, 'postmaster.pid'))) {
        execFileSync(pgBin('pg_ctl'), ['-D', pgdata, '-l', logFile, '-W', 'start'], { stdio: 'ignore', cwd: '/', ...(user ?? {}) });
      }
      const stop = beating(() => ({ phase: 'recovery', log: tail(logFile, 1) }));
      let seen = false;
      try {
        for (;;) {
          if (ctx.cancellationSignal.aborted) throw new Error('cancelled');
          const state = /Database cluster state:\s+(.+)/.exec(execFileSync(pgBin('pg_controldata'), ['-D', pgdata], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } }))?.[1];
          // Promoted (control file) and accepting connections (postmaster.pid's status line).
          if (state === 'in production' && pmStatus(pgdata) === 'ready') break;
          // pg_ctl -W returns before the postmaster writes its pid file; a FATAL exit removes it.
          const alive = postmasterAlive(pgdata);
          if (alive) seen = true;
          if (alive === false || (alive === undefined && (seen || Date.now() - started > 60_000))) {
            const fatal = tail(logFile, 200).split('\n').filter((l) => /FATAL|PANIC/.test(l)).slice(-3).join(' | ');
            throw ApplicationFailure.nonRetryable(`PostgreSQL stopped during recovery: ${fatal || tail(logFile, 5)} (log: ${logFile})`, RECOVERY_FAILED);
          }
          await new Promise((r) => setTimeout(r, 500));
        }
      } finally {
        stop();
      }
      const text = tail(logFile, 5000);
      const last = (re: RegExp) => [...text.matchAll(re)].pop();
      const redo = last(/redo done at ([0-9A-F]+\/[0-9A-F]+)/g)?.[1];
      const stopping = last(/recovery stopping (.*)/g)?.[1];
      const tx = last(/last completed transaction was at log time (.+)/g)?.[1];
      const tli = last(/selected new timeline ID: (\d+)/g)?.[1];
      return {
        reachedLsn: redo ? formatLsn(parseLsn(redo)) : undefined,
        reachedTime: tx ? logTime(tx) : undefined,
        stoppedAt: stopping, timeline: tli ? Number(tli) : undefined, seconds: (Date.now() - started) / 1000,
      };
    },

    /** Removes what fetch did not use; PostgreSQL has its own copies now. */
    async cleanupPrefetch({ prefetchDir }: { prefetchDir: string }) {
      fs.rmSync(prefetchDir, { recursive: true, force: true });
    },

    async recordRestore(r: { cluster: string; workflowId: string; startedAt: string; outcome: 'ok' | 'failed'; summary: Record<string, unknown> }) {
      await db().insert(runs).values({ cluster: r.cluster, kind: 'restore', workflowId: r.workflowId, startedAt: new Date(r.startedAt), outcome: r.outcome, summary: r.summary });
    },
  };
}

function spawnSyncText(cmd: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: '/', maxBuffer: 16 << 20 });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}` };
}

function withoutFiles(m: BackupManifest): BackupRecord {
  const { files, ...record } = m;
  return { ...record, fileCount: files.length };
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

/** PostgreSQL's recovery_target_time refuses ISO 8601's T and Z: '2026-01-31 12:00:00.5+00' instead. */
function pgTime(value: string): string {
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : d.toISOString().replace('T', ' ').replace('Z', '+00');
}

/** PostgreSQL's log time ('2026-01-31 12:00:00.123456+01') as ISO 8601; as logged when it will not parse. */
function logTime(text: string): string {
  const d = new Date(text.trim().replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00'));
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
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '';
  }
}
