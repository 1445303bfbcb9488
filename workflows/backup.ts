// baseBackup: pg_basebackup streamed into every store on the PostgreSQL host, then wait until
// the WAL up to its stop LSN is in every store, then manifest.json last. A backup without its
// WAL restores nothing, so only then does it count as complete.
import { ApplicationFailure, proxyActivities, sleep, upsertMemo, workflowInfo } from '@temporalio/workflow';
import type { createActivities } from '../activities';
import {
  backupIdAt,
  BackupRecord,
  BaseBackupInput,
  CONTENT_CONFLICT,
  HOST_PICKUP_TIMEOUT,
  hostQueue,
} from '../lib/contracts';
import { explainHostFailure } from './hostqueue';
import { baseBackupInputSchema } from '../lib/inputs';
import { validInput } from './input';
import { recoverableMemo } from './recoverable';

type Activities = ReturnType<typeof createActivities>;

const shared = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', maximumInterval: '30s', nonRetryableErrorTypes: [CONTENT_CONFLICT] },
});

function host(cluster: string, hostId: string) {
  return proxyActivities<Activities>({
    taskQueue: hostQueue(cluster, hostId),
    scheduleToStartTimeout: HOST_PICKUP_TIMEOUT,
    startToCloseTimeout: '24 hours',
    // Beats come on a timer, so a missed one means a dead worker, not a slow upload.
    heartbeatTimeout: '1 minute',
    // A failed attempt is a whole new pg_basebackup: a few tries, then a human looks.
    retry: {
      initialInterval: '10s',
      maximumInterval: '5 minutes',
      maximumAttempts: 3,
      nonRetryableErrorTypes: [CONTENT_CONFLICT],
    },
  });
}

export async function baseBackup(input: BaseBackupInput): Promise<BackupRecord> {
  validInput(baseBackupInputSchema, input, 'baseBackup');
  const { cluster, hostId } = input;
  const backupId = input.backupId ?? backupIdAt(workflowInfo().startTime);
  const startedAt = new Date().toISOString();
  const walWaitMs = input.walWaitMs ?? 60 * 60_000;
  upsertMemo({ cluster, host: hostId, backupId, state: 'streaming' });
  await shared.recordBackup({ cluster, backupId, hostId, status: 'running', startedAt });
  try {
    // Only inputs that ask for an incremental take this step, so backups started before it replay unchanged.
    let parent: string | undefined;
    if (input.incremental || input.fullEveryMs !== undefined) {
      const chosen = await shared.chooseBackupParent({
        cluster,
        fullEveryMs: input.incremental ? undefined : input.fullEveryMs,
        now: startedAt,
      });
      if (input.incremental && !chosen.parent)
        throw ApplicationFailure.nonRetryable(
          `no incremental backup possible: ${chosen.reason}; take a full backup first`,
          'NoParentBackup',
        );
      parent = chosen.parent;
      upsertMemo({ kind: parent ? 'incremental' : 'full', parent: parent ?? null, why: chosen.reason });
    }
    const streamed = await host(cluster, hostId).streamBaseBackup({ cluster, backupId, ...(parent ? { parent } : {}) });
    upsertMemo({
      state: 'waiting for WAL',
      startLsn: streamed.startLsn,
      stopLsn: streamed.stopLsn,
      rawBytes: streamed.rawSize,
      storedBytes: streamed.storedSize,
    });
    await shared.recordBackup({ cluster, backupId, hostId, status: 'waiting-for-wal', startedAt, streamed });

    // The server waited at backup stop until walflow push spooled the last segment; the
    // archive workflows take it from there to every store within seconds.
    const deadline = Date.now() + walWaitMs;
    for (let wait = 1_000; ; wait = Math.min(wait * 2, 30_000)) {
      const missing = await shared.backupWalMissing({
        cluster,
        timeline: streamed.timeline,
        startLsn: streamed.startLsn,
        stopLsn: streamed.stopLsn,
        segmentSize: streamed.segmentSize,
        stores: streamed.stores,
      });
      if (missing.length === 0) break;
      upsertMemo({
        state: `waiting for WAL: ${missing.length} file(s) not yet in every store`,
        missing: missing.slice(0, 5),
      });
      if (Date.now() > deadline) {
        throw ApplicationFailure.nonRetryable(
          `backup ${backupId}: WAL ${missing.join(', ')} did not reach every store within ${walWaitMs / 60_000} minutes; is archiving working?`,
          'WalNotArchived',
        );
      }
      await sleep(wait);
    }

    const manifest: BackupRecord = {
      format: streamed.parent ? 2 : 1,
      cluster,
      hostId,
      ...streamed,
      walArchivedAt: new Date().toISOString(),
    };
    await shared.writeBackupManifest({ record: manifest });
    await shared.recordBackup({ cluster, backupId, hostId, status: 'complete', startedAt, manifest });
    upsertMemo({ state: 'complete', missing: null });
    upsertMemo(await recoverableMemo(cluster));
    return manifest;
  } catch (caught) {
    const e = explainHostFailure(caught, cluster, hostId);
    const message = (e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message;
    await shared.recordBackup({ cluster, backupId, hostId, status: 'failed', startedAt, error: message });
    upsertMemo({ state: `failed: ${message}` });
    throw e;
  }
}
