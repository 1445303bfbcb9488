// restore (point-in-time recovery): choose a backup, download and unpack it on the host,
// prefetch the WAL up to the target, write the recovery settings and optionally start
// PostgreSQL and wait until it has reached the target and promoted. Progress per phase is
// in the `progress` query and the memo, and the outcome is recorded in the catalog.
import {
  CancellationScope,
  defineQuery,
  isCancellation,
  patched,
  proxyActivities,
  RetryPolicy,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { restoreInputSchema } from '../lib/inputs';
import { validInput } from './input';
import { explainHostFailure } from './hostqueue';
import {
  backupIdAt,
  BackupRecord,
  DATA_DIR_NOT_EMPTY,
  describeTarget,
  HOST_PICKUP_TIMEOUT,
  hostQueue,
  NO_BACKUP,
  PhaseReport,
  RECOVERY_FAILED,
  RecoveryTarget,
  RESTORE_PROGRESS_QUERY,
  RestoreInput,
  RestoreProgress,
  RunRef,
  TARGET_UNREACHABLE,
  targetOf,
  WAL_MISSING,
} from '../lib/contracts';

type Activities = ReturnType<typeof createActivities>;

export const progressQuery = defineQuery<RestoreProgress>(RESTORE_PROGRESS_QUERY);

const NON_RETRYABLE = [DATA_DIR_NOT_EMPTY, NO_BACKUP, RECOVERY_FAILED, WAL_MISSING, TARGET_UNREACHABLE];

const shared = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE },
});

function host(cluster: string, hostId: string) {
  const retry: RetryPolicy = {
    initialInterval: '2s',
    maximumInterval: '1 minute',
    maximumAttempts: 5,
    nonRetryableErrorTypes: NON_RETRYABLE,
  };
  return {
    quick: proxyActivities<Activities>({
      taskQueue: hostQueue(cluster, hostId),
      scheduleToStartTimeout: HOST_PICKUP_TIMEOUT,
      startToCloseTimeout: '1 minute',
      retry,
    }),
    // Beats come on a timer: a missed one means a dead worker, not a slow download.
    long: proxyActivities<Activities>({
      taskQueue: hostQueue(cluster, hostId),
      scheduleToStartTimeout: HOST_PICKUP_TIMEOUT,
      startToCloseTimeout: '24 hours',
      heartbeatTimeout: '1 minute',
      retry,
    }),
  };
}

export async function restore(raw: RestoreInput): Promise<RestoreProgress> {
  const input = validInput(restoreInputSchema, raw, 'restore');
  const target: RecoveryTarget = targetOf(input);
  const startedAt = new Date().toISOString();
  const defaults = input.cluster && input.hostId ? undefined : await shared.restoreDefaults();
  const cluster = input.cluster ?? defaults!.cluster;
  const hostId = input.hostId ?? defaults!.hostId;
  const targetTimeline = input.targetTimeline ?? 'latest';
  const h = host(cluster, hostId);

  const progress: RestoreProgress = {
    cluster,
    hostId,
    target: describeTarget(target),
    pgdata: input.pgdata ?? '',
    phase: 'starting',
    phases: [],
  };
  setHandler(progressQuery, () => progress);
  const memo = () =>
    upsertMemo({
      cluster,
      host: hostId,
      target: progress.target,
      backupId: progress.backupId ?? null,
      pgdata: input.pgdata ?? null,
      phase: progress.phase,
      stores: input.stores?.join(',') ?? 'all',
      phases: progress.phases
        .map(
          (p) =>
            `${p.phase}: ${p.state}${p.seconds !== undefined ? ` ${p.seconds.toFixed(1)}s` : ''}${p.detail ? ` (${p.detail})` : ''}`,
        )
        .join(', '),
      reachedLsn: progress.reachedLsn ?? null,
      reachedTime: progress.reachedTime ?? null,
    });

  async function phase<T>(name: string, run: () => Promise<T>, report: (r: T) => Partial<PhaseReport>): Promise<T> {
    const p: PhaseReport = { phase: name, state: 'running' };
    progress.phase = name;
    progress.phases.push(p);
    memo();
    const t0 = Date.now();
    try {
      const r = await run();
      Object.assign(p, report(r), { state: 'done', seconds: (Date.now() - t0) / 1000 });
      return r;
    } catch (e) {
      Object.assign(p, { state: 'failed', seconds: (Date.now() - t0) / 1000 });
      throw e;
    } finally {
      memo();
    }
  }

  /** The work folder once fetch.env (store credentials) may be in it. */
  let credentialsAt: string | undefined;
  try {
    // Before anything is written or downloaded. patched: restores already past this point replay without it.
    if (target.kind !== 'end' && target.kind !== 'immediate' && patched('restore-checks-target'))
      await phase(
        'reach',
        () => shared.checkRestoreTarget({ cluster, target, targetTimeline }),
        () => ({ detail: 'inside a reachable window, or not provably outside one' }),
      );
    // A plan-only run answers "which backup, which WAL" and touches no host.
    const dirs = input.planOnly
      ? undefined
      : await phase(
          'check',
          () =>
            h.quick.prepareDataDir({
              pgdata: input.pgdata!,
              cluster,
              restoreKey: backupIdAt(workflowInfo().startTime),
            }),
          () => ({ detail: input.pgdata }),
        );
    const manifest: BackupRecord = await phase(
      'choose',
      () => shared.chooseBackup({ cluster, backupId: input.backupId, target, stores: input.stores }),
      (m) => ({ detail: `${m.backupId} (${m.startLsn} .. ${m.stopLsn}, timeline ${m.timeline})`, bytes: m.rawSize }),
    );
    progress.backupId = manifest.backupId;
    // An incremental restores through its chain. patched: restores from before chains replay without it.
    const chain = (manifest as BackupRecord & { chain?: string[] }).chain;
    if (dirs && chain && patched('restore-combines-chain')) {
      const links = chain.map((id) => `${dirs.workDir}/chain/${id}`);
      for (const [i, id] of chain.entries())
        await phase(
          `download ${id}`,
          () => h.long.downloadBackup({ cluster, backupId: id, pgdata: links[i], stores: input.stores, check: false }),
          (r) => ({
            bytes: r.bytes,
            storedBytes: r.storedBytes,
            detail: `${i === 0 ? 'full' : 'incremental'}, ${r.chunks} chunk(s)${r.failoverCount ? `, ${r.failoverCount} failover(s)` : ''}`,
          }),
        );
      await phase(
        'combine',
        () => h.long.combineBackups({ links, pgdata: input.pgdata!, pgVersion: manifest.pgVersion }),
        (r) => ({ detail: `${r.links} backups combined by pg_combinebackup, checked by ${r.verified}` }),
      );
    } else if (dirs)
      await phase(
        'download',
        () =>
          h.long.downloadBackup({ cluster, backupId: manifest.backupId, pgdata: input.pgdata!, stores: input.stores }),
        (r) => ({
          bytes: r.bytes,
          storedBytes: r.storedBytes,
          detail: `${r.chunks} chunk(s)${r.resumedAtChunk !== undefined ? `, resumed at chunk ${r.resumedAtChunk}` : ''}, checked by ${r.verified}${r.failoverCount ? `, ${r.failoverCount} failover(s)` : ''}`,
        }),
      );
    // patched: a restore that planned under the previous code carries its list in its history.
    const listInCatalog = patched('wal-list-in-catalog');
    const plan = await phase(
      'plan',
      () => shared.planWal({ cluster, manifest, target, targetTimeline, stores: input.stores }),
      (r) => ({
        segments: planned(r),
        detail: `timeline ${r.timeline} (path ${r.timelines.join(' <- ')})${r.firstSegment ? `, ${r.firstSegment} .. ${r.lastSegment}` : ''}`,
      }),
    );
    if (!dirs) {
      progress.phase = 'planned';
      memo();
      return progress;
    }
    const prefetchInput = listInCatalog
      ? {
          cluster,
          plan: { details: plan.details, files: plan.history.length + plan.segmentCount },
          dir: dirs.prefetchDir,
          stores: input.stores,
        }
      : {
          cluster,
          names: [...plan.history, ...(plan as unknown as OldPlan).segments],
          dir: dirs.prefetchDir,
          stores: input.stores,
        };
    const prefetch = (a: Activities, stoppable: boolean) =>
      phase(
        'prefetch',
        async () => {
          try {
            return await a.prefetchWal(prefetchInput);
          } catch (e) {
            if (stoppable && isCancellation(e)) return undefined;
            throw e;
          }
        },
        (r) => {
          if (!r) return { detail: 'stopped: recovery was over' };
          const failovers = r.failoverCount ?? r.failovers.length;
          return { segments: r.segments, bytes: r.bytes, detail: failovers ? `${failovers} failover(s)` : undefined };
        },
      );
    const configure = (prefetchPlan?: RunRef) =>
      phase(
        'configure',
        () =>
          h.quick.writeRecoverySettings({
            cluster,
            pgdata: input.pgdata!,
            workDir: dirs.workDir,
            prefetchDir: dirs.prefetchDir,
            target,
            targetTimeline,
            port: input.port,
            archive: input.archive,
            stores: input.stores,
            ...(prefetchPlan ? { prefetchPlan } : {}),
          }),
        (r) => ({ detail: describeConfigured(r) }),
      );
    const recover = (envFile: string) =>
      phase(
        'recover',
        async () => {
          // Taken before PostgreSQL starts: WAL that arrives later (the source still archiving,
          // as during a drill) may rightly be missed, WAL that was there already may not.
          // patched: a restore that was already recovering under the previous code replays without it.
          const archiveEnd =
            target.kind === 'end' && patched('restore-checks-archive-end')
              ? await shared.newestArchivedSegment({ cluster, timeline: plan.timeline, stores: input.stores })
              : undefined;
          const r = await h.long.startRestored({
            pgdata: input.pgdata!,
            logFile: dirs.logFile,
            envFile,
            mustReach: archiveEnd && { ...archiveEnd, segmentSize: manifest.segmentSize },
          });
          return { ...r, archiveEnd: archiveEnd?.name };
        },
        (r) => ({
          detail: [
            r.stoppedAt,
            r.archiveEnd ? `archive ends at ${r.archiveEnd}` : '',
            r.timeline ? `promoted to timeline ${r.timeline}` : '',
          ]
            .filter(Boolean)
            .join('; '),
        }),
      );
    let reached: Awaited<ReturnType<typeof recover>> | undefined;
    // patched: restores already past the prefetch replay the sequential shape.
    if (listInCatalog && patched('restore-overlaps-prefetch')) {
      // Recovery starts while the prefetch runs: restore_command waits for a file on its way and
      // finds the next ones already there. A recovery that is over (it had all it needed, or
      // failed) stops the prefetch; one that goes on for a moment finds its folder gone and fails
      // without a trace (its temp files go with its error).
      const prefetching = new CancellationScope();
      const prefetched = prefetching.run(() => prefetch(h.long, true));
      prefetched.catch(() => undefined); // awaited below
      try {
        credentialsAt = dirs.workDir;
        const configured = await configure(plan.details);
        if (!input.start)
          await prefetched; // whoever starts PostgreSQL later finds every file there
        else reached = await recover(configured.envFile);
      } finally {
        prefetching.cancel();
        // Where the prefetch failed, fetch read the stores itself: recovery's outcome is the restore's.
        await prefetched.catch(() => undefined);
      }
    } else {
      await prefetch(h.long, false);
      credentialsAt = dirs.workDir;
      const configured = await configure();
      if (input.start) reached = await recover(configured.envFile);
    }
    if (reached) {
      progress.reachedLsn = reached.reachedLsn;
      progress.reachedTime = reached.reachedTime;
      progress.timeline = reached.timeline;
      await h.quick.cleanupPrefetch({ prefetchDir: dirs.prefetchDir });
    }
    progress.phase = input.start ? 'promoted' : 'ready to start';
    memo();
    await shared.recordRestore({
      cluster,
      workflowId: workflowInfo().workflowId,
      startedAt,
      outcome: 'ok',
      summary: { ...progress },
    });
    return progress;
  } catch (caught) {
    const e = explainHostFailure(caught, cluster, hostId);
    const cause = (e as Error).cause as Error | undefined;
    progress.error = cause?.message ?? (e as Error).message;
    progress.phase = 'failed';
    memo();
    // patched: a restore that failed under the previous code recorded its outcome next.
    if (credentialsAt && patched('restore-forgets-credentials'))
      await h.quick.forgetRestoreCredentials({ workDir: credentialsAt }).catch(() => undefined);
    await shared.recordRestore({
      cluster,
      workflowId: workflowInfo().workflowId,
      startedAt,
      outcome: 'failed',
      summary: { ...progress },
    });
    throw e;
  }
}

/** planWal's result as restores recorded before the list moved to the catalog have it. */
type OldPlan = { segments: string[] };

function planned(r: { segmentCount?: number }): number {
  return r.segmentCount ?? (r as unknown as OldPlan).segments.length;
}

/** What configure did; `disabled` is absent from results recorded before it was reported (replay). */
function describeConfigured(r: { restoreCommand: string; disabled?: string[]; wroteConfig?: string }): string {
  const disabled = r.disabled?.length
    ? `disabled what came with the backup: ${r.disabled.join(', ')}`
    : 'no recovery settings came with the backup';
  return [disabled, r.wroteConfig, `restore_command = ${r.restoreCommand}`].filter(Boolean).join('; ');
}
