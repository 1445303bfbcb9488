// Names and payload types of the baseBackup and restore workflows, shared with activities,
// workers and the CLI. Deterministic and dependency-free: workflow code imports it.
// LSNs travel as "X/Y" text (payloads are JSON; LSNs are 64-bit).

export const backupWorkflowId = (cluster: string, backupId: string) => `backup/${cluster}/${backupId}`;
export const backupScheduleId = (cluster: string) => `base-backup/${cluster}`;

/** A backup id from a time: 20261123T090102Z (sorts as it reads). */
export function backupIdAt(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

export interface BaseBackupInput {
  cluster: string;
  hostId: string;
  /** Default: derived from the workflow's start time. */
  backupId?: string;
  /** How long to wait for the backup's WAL to reach every store (ms, default 1 hour). */
  walWaitMs?: number;
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

/** manifest.json without its chunk list: what workflows and the catalog carry. */
export interface BackupRecord extends BackupSummary {
  format: 1;
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
  pgdata: string;
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

/** Non-retryable failure types of restore activities. */
export const DATA_DIR_NOT_EMPTY = 'DataDirNotEmpty';
export const NO_BACKUP = 'NoBackup';
export const RECOVERY_FAILED = 'RecoveryFailed';
/** A workflow input that can never work as given. */
export const BAD_INPUT = 'BadInput';
/** A WAL file the catalog records as archived is in no store. */
export const WAL_MISSING = 'WalMissing';
