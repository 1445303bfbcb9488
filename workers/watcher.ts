// Starts archiveSegment within a second of push spooling a file. fs.watch can miss events
// (and the start can fail while Temporal is away), so a short rescan retries whatever is
// still waiting; the archive-sweep Schedule is the safety net behind both.
import * as fs from 'node:fs';
import { Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/log';
import { SpoolPaths } from '../lib/spool';
import { parseWalName } from '../lib/wal/name';
import { ArchiveSegmentInput, archiveWorkflowId } from '../lib/contracts';
import { startOptions } from '../lib/workflowstart';
import type { archiveSegment } from '../workflows/archive';

const RESCAN_MS = 10_000;

export class SpoolWatcher {
  private watcher: fs.FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  /**
   * Files already handed to Temporal, by name -> inode and mtime: a file archived, removed and
   * pushed again (PostgreSQL may re-archive after a crash or promotion) is a new file to archive.
   */
  private started = new Map<string, string>();
  private readonly spool: SpoolPaths;

  constructor(
    private readonly getClient: () => Client | undefined,
    private readonly config: Config,
    private readonly log: Logger,
  ) {
    this.spool = new SpoolPaths(config.spoolDir, config.cluster);
  }

  start(): void {
    fs.mkdirSync(this.spool.walDir, { recursive: true });
    this.watcher = fs.watch(this.spool.walDir, (_event, name) => {
      if (name) void this.consider(name.toString());
    });
    this.watcher.on('error', (e) => this.log.warn({ err: e }, 'spool watch failed; relying on rescans'));
    const rescan = () => {
      void this.rescan().finally(() => {
        this.timer = setTimeout(rescan, RESCAN_MS);
      });
    };
    rescan();
  }

  /** Right after (re)connecting to Temporal: whatever waits in the spool goes now, not at the next rescan. */
  rescanNow(): void {
    void this.rescan();
  }

  stop(): void {
    this.watcher?.close();
    if (this.timer) clearTimeout(this.timer);
  }

  private async rescan(): Promise<void> {
    const names = new Set(await fs.promises.readdir(this.spool.walDir).catch(() => [] as string[]));
    for (const n of this.started.keys()) if (!names.has(n)) this.started.delete(n);
    for (const n of [...names].sort()) await this.consider(n);
  }

  private async consider(name: string): Promise<void> {
    if (!parseWalName(name)) return;
    const st = await fs.promises.stat(this.spool.wal(name)).catch(() => undefined);
    if (!st) return;
    const identity = `${st.ino}:${st.mtimeMs}`;
    if (this.started.get(name) === identity) return;
    const client = this.getClient();
    if (!client) return;
    const input: ArchiveSegmentInput = { cluster: this.config.cluster, hostId: this.config.hostId, name };
    this.started.set(name, identity);
    try {
      await client.workflow.start<typeof archiveSegment>('archiveSegment', {
        ...startOptions({
          kind: 'archive',
          cluster: input.cluster,
          host: input.hostId,
          object: name,
          onHost: true,
          workflowId: archiveWorkflowId(input.cluster, name),
          memo: { file: name },
        }),
        args: [input],
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
      this.log.debug({ file: name }, 'archive started');
    } catch (e) {
      if (e instanceof WorkflowExecutionAlreadyStartedError) return;
      this.started.delete(name); // retried at the next rescan
      this.log.warn({ file: name, err: (e as Error).message }, 'could not start archiveSegment; will retry');
    }
  }
}
