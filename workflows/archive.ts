// archiveSegment: one spooled WAL file to every store, then the spool copy goes.
// archiveSweep: the safety net that starts archiveSegment for whatever waits in the spool.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineUpdate,
  log,
  patched,
  ParentClosePolicy,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  upsertMemo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { createActivities } from '../activities';
import {
  AlertInput,
  ArchiveResult,
  ArchiveSegmentInput,
  ArchiveSweepInput,
  archiveWorkflowId,
  CLUSTER_MISMATCH,
  CONTENT_CONFLICT,
  CopyResult,
  FileRefusal,
  HOST_PICKUP_TIMEOUT,
  hostQueue,
  LEAVE_SPOOL_UPDATE,
  StagedFile,
} from '../lib/contracts';
import { startOptions } from '../lib/workflowstart';
import { resolvePolicy } from '../lib/clusterpolicy';
import { archiveSegmentInputSchema, archiveSweepInputSchema } from '../lib/inputs';
import { validInput } from './input';
import { startOwedCopies } from './owed';

export const leaveSpoolUpdate = defineUpdate<void>(LEAVE_SPOOL_UPDATE);

export type Activities = ReturnType<typeof createActivities>;

const catalog = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

// archiveSegment runs on its host's task queue, where the spool is. Its short steps (stage,
// record, remove, alerts) are local activities in the same worker: no server round trip per
// step, which is most of the cost of a segment. Uploads stay real activities: long, heartbeating,
// retried without limit with capped backoff, so a store that is down delays a copy, never drops it.
export const local = proxyLocalActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});
export const upload = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '20 seconds',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    nonRetryableErrorTypes: [CONTENT_CONFLICT, CLUSTER_MISMATCH],
  },
});

/** Spool listing for the sweep, which runs on the cluster's queue. */
const spoolOf = (cluster: string, hostId: string) =>
  proxyActivities<Activities>({
    taskQueue: hostQueue(cluster, hostId),
    // Only that host can list its spool: a host without a running worker fails the sweep, which the next one retries.
    scheduleToStartTimeout: HOST_PICKUP_TIMEOUT,
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1s', maximumInterval: '30s' },
  });

export function failureType(e: unknown): string | undefined {
  return e instanceof ActivityFailure && e.cause instanceof ApplicationFailure
    ? (e.cause.type ?? undefined)
    : undefined;
}

export async function archiveSegment(input: ArchiveSegmentInput): Promise<ArchiveResult> {
  validInput(archiveSegmentInputSchema, input, 'archiveSegment');
  const { cluster, hostId, name } = input;
  upsertMemo({ cluster, host: hostId, file: name, state: 'staging' });
  const staged = await local.stageSegment({ cluster, name });
  if (!staged) {
    upsertMemo({ state: 'gone (archived by an earlier run)' });
    return { name, status: 'gone' };
  }
  upsertMemo({
    state: 'uploading',
    kind: staged.kind,
    timeline: staged.timeline,
    codec: staged.codec,
    rawBytes: staged.rawSize,
    storedBytes: staged.storedSize,
    sha256: staged.sha256,
    key: staged.key,
    stores: staged.stores,
  });

  // Every store gets its copy before the spool copy goes, unless the host asks for room: then
  // a file with minCopies verified copies leaves, and the stores still missing it are owed.
  const done = new Map<string, CopyResult>();
  let leave = false;
  let failure: Error | undefined;
  setHandler(
    leaveSpoolUpdate,
    () => {
      leave = true;
    },
    {
      validator: () => {
        if (done.size < staged.minCopies) throw new Error(`${done.size} of ${staged.minCopies} copies so far`);
      },
    },
  );
  const uploads = new CancellationScope();
  void uploads
    .run(() =>
      Promise.all(
        staged.stores.map((store) =>
          uploadWatched(
            cluster,
            store,
            staged.name,
            staged.alertUploadFailingMs,
            upload.uploadToStore({ cluster, store, staged }),
          ).then((c) => void done.set(store, c)),
        ),
      ),
    )
    .catch((e: unknown) => {
      failure ??= e instanceof Error ? e : new Error(String(e));
    });
  await condition(
    () => failure !== undefined || done.size === staged.stores.length || (leave && done.size >= staged.minCopies),
  );
  const owed = staged.stores.filter((store) => !done.has(store));
  const copies = [...done.values()];
  if (failure !== undefined && owed.length) {
    const type = failureType(failure);
    if (type !== CONTENT_CONFLICT && type !== CLUSTER_MISMATCH) throw failure;
    const message = (failure as ActivityFailure).cause?.message ?? failure.message;
    await refuse(cluster, hostId, staged, { type, message });
    upsertMemo({ state: `refused: ${type}` });
    throw ApplicationFailure.nonRetryable(message, type);
  }
  if (owed.length) uploads.cancel();

  // Owed copies are in the catalog before the spool copy goes: a crash between leaves both, and
  // one before their workflow starts leaves it to the next sweep.
  await local.recordArchived({ cluster, staged, copies, owed });
  await local.removeSpoolCopy({ cluster, name });
  for (const store of owed) await startOwedCopies(cluster, store);
  upsertMemo({
    state: owed.length ? `left a full spool; owed to ${owed.join(', ')}` : 'archived',
    copies: Object.fromEntries(copies.map((c) => [c.store, c.outcome])),
  });
  return {
    name,
    status: 'archived',
    rawSize: staged.rawSize,
    storedSize: staged.storedSize,
    copies,
    ...(owed.length ? { owed } : {}),
  };
}

/** A file a store refused for good: an alert, and the spool copy kept aside for a human. */
export async function refuse(cluster: string, hostId: string, s: StagedFile, refusal: FileRefusal): Promise<void> {
  const kind = refusal.type === CONTENT_CONFLICT ? 'content-conflict' : 'cluster-mismatch';
  log.error(`${s.name} refused: ${refusal.message}`, { file: s.name, refusal: refusal.type });
  await local.raiseAlert({
    cluster,
    key: `${kind}:${s.name}`,
    kind,
    message: refusal.message,
    details: { file: s.name, host: hostId, sha256: s.sha256 },
  });
  await local.quarantineSpoolCopy({ cluster, name: s.name });
}

/**
 * Waits for an upload to one store (of one file or a batch, named by `what`); raises an alert
 * if it takes longer than the threshold, and resolves it after.
 */
export async function uploadWatched<T>(
  cluster: string,
  store: string,
  what: string,
  alertAfterMs: number,
  upload: Promise<T>,
): Promise<T> {
  let settled = false;
  const waitingSince = new Date().toISOString(); // workflow time: replays the same
  const uploaded = upload.finally(() => {
    settled = true;
  });
  const alert: AlertInput = {
    cluster,
    key: `store-failing:${store}`,
    kind: 'store-failing',
    message:
      `store ${store} has not accepted ${what} for ${Math.round(alertAfterMs / 1000)}s; ` +
      `uploads keep retrying and the spool keeps the file`,
    // A store that took another file after this run began waiting is back: this run is in backoff.
    details: { store, file: what, waitingSince },
  };
  const watch = condition(() => settled, alertAfterMs).then(async (inTime) => {
    if (!inTime) {
      log.warn(alert.message, { store, file: what });
      await local.raiseAlert(alert);
    }
    return inTime;
  });
  // When the file leaves a full spool this upload is cancelled: the store is still failing, and
  // the owed-copies workflow resolves the alert once the store takes copies again.
  void watch.catch(() => undefined);
  const result = await uploaded;
  if (!(await watch)) await local.resolveAlert({ cluster, key: alert.key });
  return result;
}

export async function archiveSweep(
  input: ArchiveSweepInput,
): Promise<{ started: number; skipped: number; failed: number }> {
  validInput(archiveSweepInputSchema, input, 'archiveSweep');
  const { cluster, hostId } = input;
  const concurrency = input.concurrency ?? 8;
  const { alerts } = resolvePolicy(input.policy);
  const spool = await spoolOf(cluster, hostId).listSpool({
    cluster,
    limit: input.limit ?? 500,
    after: input.after ?? '',
  });
  upsertMemo({ cluster, host: hostId, waiting: spool.names.length, oldestAgeMs: spool.oldestAgeMs, alerts });
  // Sweeps started before the checks workflow existed still replay these calls; the checks
  // Schedule does them now, so that a sweep waiting on a store that is down never holds them up.
  if (!patched('checks-own-schedule')) {
    await catalog.checkSpoolAge({ cluster, hostId, oldestAgeMs: spool.oldestAgeMs, maxAgeMs: alerts.spoolAgeMs });
    await catalog.checkBackupAge({ cluster, maxAgeMs: alerts.backupAgeMs });
    await catalog.deliverPendingAlerts({ cluster });
  }
  // patched: sweeps started before owed copies existed replay without asking for them.
  if (patched('owed-copies'))
    for (const store of await catalog.storesOwedCopies({ cluster })) await startOwedCopies(cluster, store);

  let started = 0,
    skipped = 0,
    failed = 0;
  const running = new Set<Promise<void>>();
  for (const name of spool.names) {
    while (running.size >= concurrency) await Promise.race(running);
    let child;
    try {
      child = await startChild(archiveSegment, {
        ...startOptions({
          kind: 'archive',
          cluster,
          host: hostId,
          object: name,
          onHost: true,
          workflowId: archiveWorkflowId(cluster, name),
        }),
        args: [{ cluster, hostId, name }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      });
    } catch (e) {
      if (e instanceof WorkflowExecutionAlreadyStartedError) {
        skipped++;
        continue;
      } // the watcher got there first
      throw e;
    }
    started++;
    const p: Promise<void> = child
      .result()
      .then(
        () => undefined,
        () => {
          failed++;
        },
      )
      .finally(() => {
        running.delete(p);
      });
    running.add(p);
  }
  await Promise.all(running);
  upsertMemo({ started, skipped, failed });
  // The next run lists past this page: files stuck behind a store that is down are skipped
  // (their archiveSegment is running), and listing them again would spin.
  if (spool.truncated)
    await continueAsNew<typeof archiveSweep>({ ...input, after: spool.names[spool.names.length - 1] });
  return { started, skipped, failed };
}
