// The contracts between walflow's parts: task queues, workflow and schedule ids, workflow
// inputs and results, activity payloads, failure types and the backup manifest. Workflows,
// activities, workers and the CLI all import them from here. Deterministic and free of
// run-time imports: workflow code imports it. LSNs travel as "X/Y" text (payloads are JSON;
// LSNs are 64-bit).
import type { PolicyInput, RetentionPolicy } from './clusterpolicy';
import type { KeptWal } from './wal/keep';

/**
 * Workflows and store-side and catalog work of one cluster: only workers serving that cluster
 * poll it, so a run always meets that cluster's stores and settings.
 */
export const clusterQueue = (cluster: string) => `walflow-cluster-${cluster}`;
/** Work that touches one host's spool or data directory for one cluster ('/' is in no name: unambiguous). */
export const hostQueue = (cluster: string, hostId: string) => `${clusterQueue(cluster)}/host-${hostId}`;
/**
 * The queues of releases before one queue per cluster. A worker serving a single cluster also
 * polls them, so runs those releases left in flight (an archiveSegment waiting on a store that
 * is down) finish after an upgrade instead of waiting for a worker that no longer exists.
 */
export const legacyQueues = (hostId: string) => ({ shared: 'walflow', host: `walflow-host-${hostId}` });

/**
 * How long an activity waits on a host's queue for that host's worker: a host whose worker is
 * gone, or a mistyped host id, fails the run with a timeout instead of leaving it waiting forever.
 */
export const HOST_PICKUP_TIMEOUT = '5 minutes';

export const archiveWorkflowId = (cluster: string, name: string) => `archive/${cluster}/${name}`;
/** A batch is named by its first and last file, so an operator finds the run that holds a file from its name. */
export const archiveBatchWorkflowId = (cluster: string, first: string, last: string) =>
  `archive-batch/${cluster}/${first}-${last}`;
/** Files per archiveBatch: bounds its payloads, its history and the bytes it stages at once. */
export const ARCHIVE_BATCH_MAX = 16;
export const sweepScheduleId = (cluster: string, hostId: string) => `archive-sweep/${cluster}/${hostId}`;
export const verifyScheduleId = (cluster: string) => `verify/${cluster}`;
export const retentionScheduleId = (cluster: string) => `retention/${cluster}`;
export const drillScheduleId = (cluster: string) => `drill/${cluster}`;
export const checksScheduleId = (cluster: string) => `checks/${cluster}`;
/** The workflow that delivers an alert the catalog could not take: one at a time per alert. */
export const alertWorkflowId = (cluster: string, key: string) => `alert/${cluster}/${key}`;

export const owedCopiesWorkflowId = (cluster: string, store: string) => `owed-copies/${cluster}/${store}`;

/**
 * Update the host sends an archiveSegment whose file should leave a spool past its limit. The
 * workflow refuses it while its file has fewer than WALFLOW_MIN_COPIES verified copies (a
 * refused update leaves no trace in history); accepted, the file leaves and the copies still
 * missing are owed to their stores.
 */
export const LEAVE_SPOOL_UPDATE = 'leaveSpool';

export interface OwedCopiesInput {
  cluster: string;
  store: string;
}

export interface ArchiveBatchInput {
  cluster: string;
  hostId: string;
  /** Spooled file names, at most ARCHIVE_BATCH_MAX. */
  names: string[];
}

export interface ArchiveSegmentInput {
  cluster: string;
  hostId: string;
  name: string;
}
/** policy: the cluster's (its alert thresholds apply); absent parts take walflow's defaults. */
export interface ArchiveSweepInput {
  cluster: string;
  hostId: string;
  concurrency?: number;
  policy?: PolicyInput;
  /** Files listed per run (default 500); the rest go to the runs it continues as. */
  limit?: number;
  /** Where this run's listing starts: the last file the run before it listed. */
  after?: string;
}

/** policy: the cluster's (its alert thresholds apply); absent parts take walflow's defaults. */
export interface ChecksInput {
  cluster: string;
  policy?: PolicyInput;
}

/** PostgreSQL's archiver as the host sees it; times are ISO text. */
export interface ArchiverReport {
  lastArchivedWal: string | null;
  lastArchivedAt: string | null;
  lastFailedWal: string | null;
  lastFailedAt: string | null;
  /** The oldest segment PostgreSQL finished after the newest in the stores, aged by PostgreSQL's clock. */
  oldestUnarchived: { name: string; ageMs: number } | null;
  /** Why pg_wal could not be read (the role lacks pg_monitor): archive-stale is not judged. */
  walDirError: string | null;
}

/** What a host answers the checks: its spool, and its PostgreSQL's archiver where it has WALFLOW_PG_URL. */
export interface HostReport {
  spool: { waiting: number; oldestAgeMs: number };
  postgres: ArchiverReport | { error: string } | null;
}

/** The newest WAL segment in the catalog, and how long ago it reached every store. */
export interface NewestArchived {
  name: string;
  ageMs: number;
}

/** What the host learns about a spooled file when it stages it for upload. */
export interface StagedFile {
  name: string;
  kind: string;
  timeline: number;
  /** LSN as a decimal string: payloads are JSON, LSNs are 64-bit. */
  startLsn: string | null;
  rawSize: number;
  storedSize: number;
  codec: string;
  sha256: string;
  /** The key the staged copy is sealed with; absent when encryption is off (and in older histories). */
  keyId?: string;
  key: string;
  handedOverAt: string;
  systemIdentifier: string | null;
  pgVersion: number | null;
  segmentSize: number | null;
  /** The segment's index as metadata text (lib/wal/segmentindex.ts); null for other kinds of file. */
  walIndex: string | null;
  /** Configuration the workflow needs, read by the host that holds the file. */
  stores: string[];
  alertUploadFailingMs: number;
  /** Verified copies needed before the file may leave a spool past its limit (WALFLOW_MIN_COPIES). */
  minCopies: number;
}

export interface CopyResult {
  store: string;
  outcome: 'created' | 'exists';
  confirmedAt: string;
  uploadMs: number;
}

/** A file one store refused for good (CONTENT_CONFLICT, CLUSTER_MISMATCH): kept for a human, never retried. */
export interface FileRefusal {
  type: string;
  message: string;
}

/** One store's answer for a batch, by file name: a confirmed copy or a refusal. */
export interface BatchCopies {
  copies: Record<string, CopyResult>;
  refused: Record<string, FileRefusal>;
}

export interface ArchiveResult {
  name: string;
  status: 'archived' | 'gone';
  rawSize?: number;
  storedSize?: number;
  copies?: CopyResult[];
  /** Stores still owed a copy: the file left a full spool before they took it. */
  owed?: string[];
}

export interface AlertInput {
  cluster: string;
  key: string;
  kind:
    | 'store-failing'
    | 'spool-age'
    | 'content-conflict'
    | 'cluster-mismatch'
    | 'verify-failure'
    | 'archive-gap'
    | 'retention-blocked'
    | 'backup-missing'
    | 'drill-failure'
    | 'host-silent'
    | 'archive-command-failing'
    | 'archive-stale'
    | 'store-degraded'
    | 'spool-full';
  message: string;
  details?: Record<string, unknown>;
  /** The webhook already has it (posted while the catalog was down): record it without posting again. */
  announced?: boolean;
}

/** ApplicationFailure types that must not be retried: retrying cannot fix them. */
export const CONTENT_CONFLICT = 'ContentConflict';
export const CLUSTER_MISMATCH = 'ClusterMismatch';

export interface VerifyInput {
  cluster: string;
  deep?: boolean;
  repair?: boolean;
}

/** Where a run's long lists live in the catalog (db/rundetails.ts): its workflow and run id. */
export interface RunRef {
  workflowId: string;
  runId: string;
}

/** How many items of each long list a workflow result carries as examples; the catalog holds them all. */
export const DETAIL_EXAMPLES = 20;

/** The lists of a verify report that grow with the archive. */
export interface VerifyLists {
  problems: { key: string; store: string; problem: string }[];
  repaired: { key: string; store: string; problem: string }[];
  unrepairable: string[];
  /** Copies that differ with no catalog record to say which is right: left alone. */
  conflicts: { key: string; name: string; copies: Record<string, string> }[];
  gaps: { timeline: number; from: string; to: string }[];
}

export const VERIFY_SECTIONS: (keyof VerifyLists)[] = ['problems', 'repaired', 'unrepairable', 'conflicts', 'gaps'];

/** What `walflow verify --json` prints: every item of every list. */
export interface VerifyReport extends VerifyLists {
  objects: number;
  stores: string[];
  deep: boolean;
  /** Per store, WAL its own retention removed (no backup it holds needs it): not missing. */
  pruned: { store: string; files: number; reason: string }[];
}

/** What the verify workflow returns: the lists cut to their first DETAIL_EXAMPLES items, their full counts, and where the rest is. */
export interface VerifySummary extends VerifyReport {
  counts: Record<keyof VerifyLists, number>;
  details: RunRef;
}

export interface RunRecord {
  cluster: string;
  kind: 'verify' | 'retention' | 'drill' | 'restore';
  workflowId: string;
  startedAt: string;
  outcome: 'ok' | 'repaired' | 'failed';
  summary: Record<string, unknown>;
}

export interface RetentionInput {
  cluster: string;
  dryRun?: boolean;
  /** The clock retention decides by (ISO time; default: the workflow's start). For drills and tests. */
  now?: string;
  /** The cluster's policy (its retention part applies); absent parts take walflow's defaults. */
  policy?: PolicyInput;
}

export interface Deletion {
  key: string;
  reason: string;
}

/** The catalog section holding a store's deletions, in the order they are made. */
export const deletionSection = (store: string) => `deletions:${store}`;

export interface StorePlan {
  store: string;
  retentionDays: number;
  /** Backup ids kept, newest first. */
  kept: string[];
  /** How many objects the plan deletes; each one is in the catalog (deletionSection). */
  deletionCount: number;
  /** The first DETAIL_EXAMPLES deletions. */
  firstDeletions: Deletion[];
  /** Why the WAL that stays is kept: one range per timeline and reason. */
  keptWal: KeptWal[];
  blocked: string | null;
  newestBackup: string | null;
}

export interface RetentionPlan {
  cluster: string;
  now: string;
  minBackups: number;
  policy: RetentionPolicy;
  stores: StorePlan[];
  details: RunRef;
}

export type RetentionResult = RetentionPlan & { deleted: number };

/** What `walflow prune --json` prints: the result with each store's every deletion. */
export type RetentionListing = Omit<RetentionResult, 'stores'> & { stores: (StorePlan & { deletions: Deletion[] })[] };

/** hostId and checkQuery: this run's choice, else the policy's (its drill part); absent parts take walflow's defaults. */
export interface DrillInput {
  cluster?: string;
  hostId?: string;
  checkQuery?: string;
  policy?: PolicyInput;
}

/** A drill's scratch room: the backup unpacked, plus a tenth for the WAL replayed on top of it. */
export const drillSpaceNeeded = (backupRawSize: number) => Math.ceil(backupRawSize * 1.1);

export interface DrillResult {
  cluster: string;
  hostId: string;
  outcome: 'ok' | 'failed';
  pgdata: string;
  secondsToRecover?: number;
  backupId?: string;
  reachedLsn?: string;
  reachedTime?: string;
  phases?: { phase: string; seconds: number }[];
  check?: { query: string; rows: number; first: Record<string, unknown> | null };
  error?: string;
}

export const backupWorkflowId = (cluster: string, backupId: string) => `backup/${cluster}/${backupId}`;
export const backupScheduleId = (cluster: string) => `base-backup/${cluster}`;

/** A backup id from a time: 20261123T090102Z (sorts as it reads). */
export function backupIdAt(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

export interface BaseBackupInput {
  cluster: string;
  hostId: string;
  /** Default: derived from the workflow's start time. */
  backupId?: string;
  /** How long to wait for the backup's WAL to reach every store (ms, default 1 hour). */
  walWaitMs?: number;
  /** Incremental against the newest backup complete in every store (PostgreSQL 17+); fails when there is none. */
  incremental?: boolean;
  /** The Schedule's rule: incremental, unless the newest chain began this long ago (ms) or there is none. */
  fullEveryMs?: number;
}

export interface BackupFile {
  /** Relative to the backup's folder. */
  name: string;
  rawSize: number;
  storedSize: number;
  sha256: string;
}

/**
 * What the host learns while streaming pg_basebackup into the stores. The chunk list is not
 * in it: it grows with the database (16k chunks per TiB) and payloads stay small; it goes to
 * the stores as files.json and into manifest.json.
 */
export interface BackupSummary {
  backupId: string;
  label: string;
  timeline: number;
  startLsn: string;
  stopLsn: string;
  startWal: string;
  stopWal: string;
  startTime: string;
  stopTime: string;
  /** Set for an incremental: the backup whose backup_manifest pg_basebackup compared against. */
  parent?: string;
  pgVersion: number;
  pgVersionText: string;
  systemIdentifier: string;
  segmentSize: number;
  codec: string;
  fileCount: number;
  rawSize: number;
  storedSize: number;
  stores: string[];
  seconds: number;
}

/**
 * manifest.json without its chunk list: what workflows and the catalog carry. A full backup is
 * format 1; an incremental is format 2 and names its parent, so a walflow that reads format 1
 * only refuses it rather than restore it as if it were whole.
 */
export interface BackupRecord extends BackupSummary {
  format: 1 | 2;
  cluster: string;
  hostId: string;
  walArchivedAt: string;
}

/** manifest.json, written last into every store: its presence means the backup is complete. */
export interface BackupManifest extends BackupRecord {
  files: BackupFile[];
}

export type RecoveryTarget =
  | { kind: 'time'; value: string }
  | { kind: 'lsn'; value: string }
  | { kind: 'name'; value: string }
  | { kind: 'xid'; value: string }
  | { kind: 'immediate' }
  | { kind: 'end' };

/** One JSON object, so `temporal workflow start --type restore --input '{...}'` works too. */
export interface RestoreInput {
  targetTime?: string;
  targetLsn?: string;
  targetName?: string;
  targetXid?: string;
  immediate?: boolean;
  /** A timeline number, or 'latest' (default). */
  targetTimeline?: number | 'latest';
  backupId?: string;
  /** The folder to restore into; not needed for a plan-only run. */
  pgdata?: string;
  /** Choose the backup and plan the WAL, report them, and stop: nothing is downloaded or written. */
  planOnly?: boolean;
  hostId?: string;
  cluster?: string;
  /** Start PostgreSQL and wait until it reached the target and promoted. */
  start?: boolean;
  port?: number;
  /** Let the restored cluster archive (default off: it must not write into the source's archive). */
  archive?: boolean;
  /**
   * Read only these stores (default: every store), e.g. while another is down: restore_command
   * then takes their "no such file" for the archive's, where otherwise it must stop recovery.
   */
  stores?: string[];
}

export function targetOf(input: RestoreInput): RecoveryTarget {
  const given: RecoveryTarget[] = [];
  if (input.targetTime !== undefined) given.push({ kind: 'time', value: input.targetTime });
  if (input.targetLsn !== undefined) given.push({ kind: 'lsn', value: input.targetLsn });
  if (input.targetName !== undefined) given.push({ kind: 'name', value: input.targetName });
  if (input.targetXid !== undefined) given.push({ kind: 'xid', value: String(input.targetXid) });
  if (input.immediate) given.push({ kind: 'immediate' });
  if (given.length > 1) throw new Error('give at most one of targetTime, targetLsn, targetName, targetXid, immediate');
  return given[0] ?? { kind: 'end' };
}

export function describeTarget(t: RecoveryTarget): string {
  return 'value' in t ? `${t.kind}:${t.value}` : t.kind;
}

export const restoreWorkflowId = (cluster: string, target: RecoveryTarget, startedAt: Date) =>
  `restore/${cluster}/${describeTarget(target)}-${backupIdAt(startedAt)}`;

export interface PhaseReport {
  phase: string;
  state: 'running' | 'done' | 'failed';
  seconds?: number;
  bytes?: number;
  storedBytes?: number;
  segments?: number;
  detail?: string;
}

export interface RestoreProgress {
  cluster: string;
  hostId: string;
  target: string;
  backupId?: string;
  pgdata: string;
  phase: string;
  phases: PhaseReport[];
  reachedLsn?: string;
  reachedTime?: string;
  timeline?: number;
  error?: string;
}

export const RESTORE_PROGRESS_QUERY = 'progress';

/**
 * The settings restore_command reads, store credentials included, in the restore's work folder:
 * `walflow recovery-end --forget` removes it once recovery has ended, and only a file of this name.
 */
export const RESTORE_ENV_FILE = 'fetch.env';

/** Non-retryable failure types of restore activities. */
export const DATA_DIR_NOT_EMPTY = 'DataDirNotEmpty';
export const NO_BACKUP = 'NoBackup';
export const RECOVERY_FAILED = 'RecoveryFailed';
/** A workflow input that can never work as given. */
export const BAD_INPUT = 'BadInput';
/** A WAL file the catalog records as archived is in no store. */
export const WAL_MISSING = 'WalMissing';
/** A recovery target outside every window the archive can reach. */
export const TARGET_UNREACHABLE = 'TargetUnreachable';
