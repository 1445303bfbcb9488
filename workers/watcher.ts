// Starts archiveSegment within a second of push spooling a file, and archiveBatch for files that
// pile up while earlier runs are busy (a backlog). fs.watch can miss events
// (and the start can fail while Temporal is away), so a short rescan retries whatever is
// still waiting; the archive-sweep Schedule is the safety net behind both.
import * as fs from 'node:fs';
import { Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/log';
import { SpoolPaths } from '../lib/spool';
import { UploadProgress } from '../lib/uploadprogress';
import { parseWalName } from '../lib/wal/name';
import {
  ARCHIVE_BATCH_MAX,
  ArchiveBatchInput,
  archiveBatchWorkflowId,
  ArchiveSegmentInput,
  archiveWorkflowId,
} from '../lib/contracts';
import { startOptions } from '../lib/workflowstart';
import type { archiveSegment } from '../workflows/archive';
import type { archiveBatch } from '../workflows/archivebatch';

const RESCAN_MS = 10_000;
/**
 * Busy runs this watcher keeps going before files wait to go together: a file alone starts at
 * once, and the files that pile up behind busy runs go as one archiveBatch each ARCHIVE_BATCH_MAX.
 * A run that only waits for a store that is down is not busy: while a store is down, the healthy
 * ones get each new file as soon as both are up.
 */
const MAX_RUNS = 4;
/** How long a file may wait for a busy run to finish: a slow run does not hold it back for long. */
const HOLD_MS = 1_000;

interface Started {
  /** The file's inode and mtime when its run started. */
  identity: string;
  workflowId: string;
  batch: boolean;
}

export class SpoolWatcher {
  private watcher: fs.FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private holdTimer: NodeJS.Timeout | undefined;
  /**
   * Files already handed to Temporal, by name: a file archived, removed and pushed again
   * (PostgreSQL may re-archive after a crash or promotion) is a new file to archive.
   */
  private started = new Map<string, Started>();
  private holdingSince: number | undefined;
  private scanning = false;
  private again = false;
  private readonly spool: SpoolPaths;
  /** Told by this worker's upload activities what each store took or failed. */
  readonly uploads = new UploadProgress();

  constructor(
    private readonly getClient: () => Client | undefined,
    private readonly config: Config,
    private readonly log: Logger,
  ) {
    this.spool = new SpoolPaths(config.spoolDir, config.cluster);
  }

  start(): void {
    fs.mkdirSync(this.spool.walDir, { recursive: true });
    // Every push and every archived file is an event: a new file to start, or a run that finished.
    this.watcher = fs.watch(this.spool.walDir, () => this.rescanNow());
    this.watcher.on('error', (e) => this.log.warn({ err: e }, 'spool watch failed; relying on rescans'));
    const rescan = () => {
      this.rescanNow();
      this.timer = setTimeout(rescan, RESCAN_MS);
    };
    rescan();
  }

  /** Right after (re)connecting to Temporal, and on each spool event: whatever waits goes now. */
  rescanNow(): void {
    if (this.scanning) {
      this.again = true;
      return;
    }
    this.scanning = true;
    void this.rescan()
      .catch((e: Error) => this.log.warn({ err: e.message }, 'spool rescan failed'))
      .finally(() => {
        this.scanning = false;
        if (this.again) {
          this.again = false;
          this.rescanNow();
        }
      });
  }

  /** The run archiving a file this watcher started, for the spool-pressure update. */
  workflowIdOf(name: string): string | undefined {
    return this.started.get(name)?.workflowId;
  }

  /** The file is in a batch this watcher started: the sweep leaves it to that run. */
  inBatch(name: string): boolean {
    return this.started.get(name)?.batch ?? false;
  }

  stop(): void {
    this.watcher?.close();
    if (this.timer) clearTimeout(this.timer);
    if (this.holdTimer) clearTimeout(this.holdTimer);
  }

  private async rescan(): Promise<void> {
    const names = (await fs.promises.readdir(this.spool.walDir).catch(() => [] as string[]))
      .filter((n) => parseWalName(n))
      .sort();
    const present = new Set(names);
    for (const n of this.started.keys()) if (!present.has(n)) this.started.delete(n);
    this.uploads.retain(present);
    const waiting: { name: string; identity: string }[] = [];
    for (const name of names) {
      const st = await fs.promises.stat(this.spool.wal(name)).catch(() => undefined);
      if (!st) continue;
      const identity = `${st.ino}:${st.mtimeMs}`;
      if (this.started.get(name)?.identity !== identity) waiting.push({ name, identity });
    }
    const client = this.getClient();
    if (!waiting.length || !client) return;
    const stores = this.config.stores.map((s) => s.name);
    const busy = [...this.started].filter(([name]) => !this.uploads.waitsOnFailingStoresOnly(name, stores));
    if (new Set(busy.map(([, s]) => s.workflowId)).size >= MAX_RUNS) {
      this.holdingSince ??= Date.now();
      const left = this.holdingSince + HOLD_MS - Date.now();
      if (left > 0) {
        this.holdTimer ??= setTimeout(() => {
          this.holdTimer = undefined;
          this.rescanNow();
        }, left);
        return;
      }
    }
    this.holdingSince = undefined;
    for (let i = 0; i < waiting.length; i += ARCHIVE_BATCH_MAX) {
      const files = waiting.slice(i, i + ARCHIVE_BATCH_MAX);
      await (files.length === 1 ? this.startOne(client, files[0]) : this.startBatch(client, files));
    }
  }

  private async startOne(client: Client, file: { name: string; identity: string }): Promise<void> {
    const { name } = file;
    const input: ArchiveSegmentInput = { cluster: this.config.cluster, hostId: this.config.hostId, name };
    const workflowId = archiveWorkflowId(input.cluster, name);
    await this.startRun([file], workflowId, false, () =>
      client.workflow.start<typeof archiveSegment>('archiveSegment', {
        ...startOptions({
          kind: 'archive',
          cluster: input.cluster,
          host: input.hostId,
          object: name,
          onHost: true,
          workflowId,
          memo: { file: name },
        }),
        args: [input],
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        workflowIdConflictPolicy: 'USE_EXISTING',
      }),
    );
  }

  private async startBatch(client: Client, files: { name: string; identity: string }[]): Promise<void> {
    const names = files.map((f) => f.name);
    const input: ArchiveBatchInput = { cluster: this.config.cluster, hostId: this.config.hostId, names };
    const workflowId = archiveBatchWorkflowId(input.cluster, names[0], names[names.length - 1]);
    await this.startRun(files, workflowId, true, () =>
      client.workflow.start<typeof archiveBatch>('archiveBatch', {
        ...startOptions({
          kind: 'archive',
          cluster: input.cluster,
          host: input.hostId,
          object: names[0],
          onHost: true,
          workflowId,
          memo: { files: Object.fromEntries(names.map((n) => [n, 'waiting'])) },
        }),
        args: [input],
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        workflowIdConflictPolicy: 'USE_EXISTING',
      }),
    );
  }

  private async startRun(
    files: { name: string; identity: string }[],
    workflowId: string,
    batch: boolean,
    start: () => Promise<unknown>,
  ): Promise<void> {
    for (const f of files) this.started.set(f.name, { identity: f.identity, workflowId, batch });
    try {
      await start();
      this.log.debug({ workflowId, files: files.length }, 'archive started');
    } catch (e) {
      if (e instanceof WorkflowExecutionAlreadyStartedError) return;
      for (const f of files) this.started.delete(f.name); // retried at the next rescan
      this.log.warn({ workflowId, err: (e as Error).message }, 'could not start archiving; will retry');
    }
  }
}
