// Keeps the spool under WALFLOW_SPOOL_MAX while a store is down. Once less than the headroom is
// free, the oldest files are asked to leave (archiveSegment accepts only with WALFLOW_MIN_COPIES
// verified copies; the copies still missing are then owed to their stores). When push had to
// refuse a file it leaves a marker: `spool-full` is raised, and resolved once there is room.
import * as fs from 'node:fs';
import type { Client } from '@temporalio/client';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/log';
import { SpoolPaths } from '../lib/spool';
import { defaultSpoolLimit, fits, spoolHeadroom, spoolUsage } from '../lib/spoollimit';
import { AlertInput, archiveWorkflowId, LEAVE_SPOOL_UPDATE } from '../lib/contracts';

const CHECK_MS = 1_000;
/** Update requests per check: each file without enough copies yet costs a round trip. */
const MAX_ASKS = 32;

interface Alerts {
  raiseAlert(a: AlertInput): Promise<void>;
  resolveAlert(a: { cluster: string; key: string }): Promise<void>;
}

export class SpoolPressure {
  private timer: NodeJS.Timeout | undefined;
  private watcher: fs.FSWatcher | undefined;
  private checking = false;
  private again = false;
  private stopped = false;
  private readonly spool: SpoolPaths;
  /** Files whose workflow accepted to leave, and files asked to that have not answered yet. */
  private leaving = new Set<string>();
  private asking = new Set<string>();
  private fullRaised = false;

  constructor(
    private readonly getClient: () => Client | undefined,
    private readonly config: Config,
    private readonly log: Logger,
    private readonly alerts: Alerts,
    /** The run archiving a file, when the watcher put it in a batch; else its own archiveSegment. */
    private readonly runOf: (name: string) => string | undefined = () => undefined,
  ) {
    this.spool = new SpoolPaths(config.spoolDir, config.cluster);
  }

  start(): void {
    fs.mkdirSync(this.spool.walDir, { recursive: true });
    // Each push is a moment the spool grows: check then, and every CHECK_MS besides.
    this.watcher = fs.watch(this.spool.walDir, () => this.checkSoon());
    this.watcher.on('error', (e) => this.log.warn({ err: e }, 'spool watch failed; checking the limit on a timer'));
    this.checkSoon();
  }

  stop(): void {
    this.watcher?.close();
    if (this.timer) clearTimeout(this.timer);
    this.stopped = true;
  }

  /** One check at a time; a change seen during a check runs another right after it. */
  private checkSoon(): void {
    if (this.checking) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.checking = true;
    void this.check()
      .catch((e: Error) => this.log.warn({ err: e.message }, 'spool pressure check failed'))
      .finally(() => {
        this.checking = false;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.checkSoon();
        } else {
          this.timer = setTimeout(() => this.checkSoon(), CHECK_MS);
        }
      });
  }

  private async check(): Promise<void> {
    const limit = this.config.spoolMaxBytes ?? defaultSpoolLimit(this.spool.dir);
    const { files, bytes } = spoolUsage(this.spool);
    const largest = Math.max(0, ...files.map((f) => f.bytes));
    const present = new Set(files.map((f) => f.name));
    for (const n of this.leaving) if (!present.has(n)) this.leaving.delete(n);
    this.makeRoom(files, bytes - (limit - spoolHeadroom(limit, largest)));
    const segment = Math.max(0, ...files.map((f) => f.raw));
    const free = fs.statfsSync(this.spool.dir);
    await this.reportFull(fits(bytes, segment, limit) && free.bavail * free.bsize >= 2 * segment, bytes, limit);
  }

  /**
   * Asks the oldest files to leave until `excess` bytes are on their way out. The asks run side
   * by side: an accepted one answers only once its file is gone, a refused one at once, and a
   * check after a refusal asks the next file.
   */
  private makeRoom(files: { name: string; bytes: number }[], excess: number): void {
    const client = this.getClient();
    if (excess <= 0 || !client) return;
    let asks = 0;
    for (const f of files) {
      if (excess <= 0 || asks >= MAX_ASKS) break;
      excess -= f.bytes;
      if (this.leaving.has(f.name) || this.asking.has(f.name)) continue;
      asks++;
      this.asking.add(f.name);
      void client.workflow
        .getHandle(this.runOf(f.name) ?? archiveWorkflowId(this.config.cluster, f.name))
        .executeUpdate(LEAVE_SPOOL_UPDATE, { args: [f.name] })
        .then(
          () => {
            this.leaving.add(f.name);
            this.log.info({ file: f.name }, 'spool past its limit: file left with its minimum copies');
          },
          () => undefined, // fewer than WALFLOW_MIN_COPIES copies yet, or its workflow is not running
        )
        .finally(() => this.asking.delete(f.name));
    }
  }

  private async reportFull(room: boolean, bytes: number, limit: number): Promise<void> {
    const key = `spool-full:${this.config.hostId}`;
    const refused = fs.existsSync(this.spool.fullMarker);
    if (refused && !this.fullRaised) {
      await this.alerts.raiseAlert({
        cluster: this.config.cluster,
        key,
        kind: 'spool-full',
        message:
          `push refused WAL on ${this.config.hostId}: its spool holds ${bytes} of ${limit} bytes and no file there ` +
          `has WALFLOW_MIN_COPIES copies; PostgreSQL keeps the WAL and retries, and pg_wal grows: bring a store back`,
        details: { host: this.config.hostId, bytes, limit },
      });
      this.fullRaised = true;
    }
    if (refused && room) {
      fs.rmSync(this.spool.fullMarker, { force: true });
      await this.alerts.resolveAlert({ cluster: this.config.cluster, key });
      this.fullRaised = false;
    }
  }
}
