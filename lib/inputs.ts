// Schemas for every input that crosses into walflow: workflow inputs (from the CLI, a Schedule,
// the `temporal` CLI or the Web UI form), every activity's input, and the CLI's flags once
// gathered. Parsed before anything is written or
// started, so every way in gets the same one-line error. Workflow code imports this module:
// zod and the constants of contracts are its only run-time imports, and neither does I/O.
import { z } from 'zod';
import type { PolicyInput } from './clusterpolicy';
import { ARCHIVE_BATCH_MAX, type RecoveryTarget, type RestoreInput } from './contracts';

/** Names of clusters, hosts and stores: they become task queues, object keys and setting names. */
export const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** Newline, tab, NUL and the rest: nothing a name, a path or a configuration value may hold. */
export function hasControlCharacter(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

export const name = z.string().regex(NAME, 'lower-case letters, digits, - and _ only (up to 63)');

/** Free text, such as a restore point's name: one line, no control characters. */
const text = z.string().refine((s) => !hasControlCharacter(s), 'no control characters (newline, tab, ...)');
/** SQL sent to PostgreSQL as a query (never written into a file): any lines, but no NUL. */
const query = z
  .string()
  .min(1)
  .refine((s) => !s.includes('\u0000'), 'no NUL characters');

/**
 * A folder or file on a host: absolute, and nothing that a configuration file or a shell
 * command line would have to escape.
 */
export const absolutePath = z
  .string()
  .refine((p) => p.startsWith('/'), 'an absolute path (starting with /)')
  .refine((p) => !/['"\\]/.test(p) && !hasControlCharacter(p), 'no quotes, backslashes or control characters');

const port = z.number({ error: 'a port number' }).int('a whole number').min(1).max(65535);
const lsn = z.string().regex(/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/, 'an LSN such as 0/16B3748');
const time = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'a time (ISO 8601, e.g. 2026-01-31T12:00:00Z)');
const xid = z
  .union([z.string().regex(/^\d+$/), z.number().int().nonnegative()], { error: 'a transaction id (digits)' })
  .transform(String);
/** Restore point names: up to 63 bytes in PostgreSQL. Quotes and backslashes are escaped where written. */
const restorePointName = text.refine((s) => s.length > 0 && utf8Length(s) < 64, '1 to 63 bytes');
const backupId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'a backup id such as 20261123T090102Z');
const walName = z
  .string()
  .regex(/^[0-9A-F]{8}(\.history|[0-9A-F]{16}(\.partial|\.[0-9A-F]{8}\.backup)?)$/, 'a WAL file name');
const timeline = z.union([z.number().int().positive(), z.literal('latest')], {
  error: 'a timeline number, or "latest"',
});
const storeList = z.array(name).min(1, 'name at least one store');

export const policyInputSchema: z.ZodType<PolicyInput> = z.looseObject({
  retention: z
    .looseObject({
      days: z.number().int().positive().optional(),
      minBackups: z.number().int().min(1).optional(),
      storeDays: z.record(z.string(), z.number().int().positive()).optional(),
    })
    .optional(),
  drill: z.looseObject({ hostId: name.optional(), checkQuery: query.optional() }).optional(),
  alerts: z
    .looseObject({ spoolAgeMs: z.number().nonnegative().optional(), backupAgeMs: z.number().nonnegative().optional() })
    .optional(),
});

/**
 * Strict: a misspelt target would otherwise be dropped, and the restore would go to the end
 * of the archive instead.
 */
export const restoreInputSchema: z.ZodType<RestoreInput> = z
  .strictObject({
    targetTime: time.optional(),
    targetLsn: lsn.optional(),
    targetName: restorePointName.optional(),
    targetXid: xid.optional(),
    immediate: z.boolean().optional(),
    targetTimeline: timeline.optional(),
    backupId: backupId.optional(),
    pgdata: absolutePath.optional(),
    planOnly: z.boolean().optional(),
    hostId: name.optional(),
    cluster: name.optional(),
    start: z.boolean().optional(),
    port: port.optional(),
    archive: z.boolean().optional(),
    stores: storeList.optional(),
  })
  .superRefine((r, ctx) => {
    const targets = ['targetTime', 'targetLsn', 'targetName', 'targetXid', 'immediate'] as const;
    const given = targets.filter((k) => (k === 'immediate' ? r.immediate === true : r[k] !== undefined));
    if (given.length > 1) ctx.addIssue({ code: 'custom', message: `give at most one of ${targets.join(', ')}` });
    if (r.pgdata === undefined && !r.planOnly)
      ctx.addIssue({
        code: 'custom',
        path: ['pgdata'],
        message:
          'required (--pgdata): an empty or new folder to restore into, or planOnly (--plan-only) to see what a restore would use',
      });
  });

export const drillInputSchema = z.looseObject({
  cluster: name.optional(),
  hostId: name.optional(),
  checkQuery: query.optional(),
  policy: policyInputSchema.optional(),
});

export const baseBackupInputSchema = z.looseObject({
  cluster: name,
  hostId: name,
  backupId: backupId.optional(),
  walWaitMs: z.number().int().nonnegative().optional(),
  incremental: z.boolean().optional(),
  fullEveryMs: z.number().int().positive().optional(),
});

export const verifyInputSchema = z.looseObject({
  cluster: name,
  deep: z.boolean().optional(),
  repair: z.boolean().optional(),
});

export const retentionInputSchema = z.looseObject({
  cluster: name,
  dryRun: z.boolean().optional(),
  now: time.optional(),
  policy: policyInputSchema.optional(),
});

export const archiveSegmentInputSchema = z.looseObject({ cluster: name, hostId: name, name: walName });

export const archiveBatchInputSchema = z.looseObject({
  cluster: name,
  hostId: name,
  names: z.array(walName).min(1).max(ARCHIVE_BATCH_MAX),
});

export const archiveSweepInputSchema = z.looseObject({
  cluster: name,
  hostId: name,
  concurrency: z.number().int().min(1).max(1000).optional(),
  policy: policyInputSchema.optional(),
});

const recoveryTarget: z.ZodType<RecoveryTarget> = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('time'), value: time }),
  z.strictObject({ kind: z.literal('lsn'), value: lsn }),
  z.strictObject({ kind: z.literal('name'), value: restorePointName }),
  z.strictObject({ kind: z.literal('xid'), value: z.string().regex(/^\d+$/, 'a transaction id (digits)') }),
  z.strictObject({ kind: z.literal('immediate') }),
  z.strictObject({ kind: z.literal('end') }),
]);

/** An object's key under a store's prefix: relative, and no `.` or `..` step out of the cluster's tree. */
const objectKey = z
  .string()
  .regex(
    /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/,
    'an object key such as main/wal/00000001/000000010000000000000001.zst',
  )
  .refine((k) => k.split('/').every((step) => step !== '.' && step !== '..'), 'no . or .. in an object key');
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 in hex');
const size = z.number().int().nonnegative();
const ms = z.number().nonnegative();
const positive = z.number().int().positive();
/** A spool listing resumes after a WAL file name; '' starts at the beginning. */
const afterWal = z.union([z.literal(''), walName]);
const runRef = z.looseObject({ workflowId: text, runId: text });
const workflowId = text.min(1);
/** Catalog rows: what a workflow recorded about itself. */
const record = z.record(z.string(), z.unknown());

/** Staged by the host, uploaded and recorded by name, key and checksum. */
const stagedFile = z.looseObject({ name: walName, key: objectKey, codec: name, sha256 });
const backupSummary = z.looseObject({ backupId, timeline: positive, startLsn: lsn, stopLsn: lsn });
const backupRecord = backupSummary.extend({ cluster: name });
const retentionPolicy = z.looseObject({
  days: positive,
  minBackups: positive,
  storeDays: z.record(name, positive),
});
const alert = z.looseObject({
  cluster: name,
  key: text.min(1),
  kind: name,
  message: z.string(),
  details: record.optional(),
  announced: z.boolean().optional(),
});

/**
 * Every activity's input, by activity name (test/unit/inputs.test.ts holds createActivities to
 * it). Their inputs come from workflows that checked their own, but an activity is its own
 * boundary. Loose objects: a payload from an older release, retried after an upgrade, may carry
 * fields this one no longer reads.
 */
export const activityInputSchemas: Record<string, z.ZodType> = {
  // spool and upload (host)
  listSpool: z.looseObject({ cluster: name, limit: positive, after: afterWal.optional() }),
  stageSegment: z.looseObject({ cluster: name, name: walName }),
  removeSpoolCopy: z.looseObject({ cluster: name, name: walName }),
  quarantineSpoolCopy: z.looseObject({ cluster: name, name: walName }),
  uploadToStore: z.looseObject({ cluster: name, store: name, staged: stagedFile }),
  stageBatch: z.looseObject({ cluster: name, names: z.array(walName).min(1).max(ARCHIVE_BATCH_MAX) }),
  uploadBatchToStore: z.looseObject({
    cluster: name,
    store: name,
    staged: z.array(stagedFile).min(1).max(ARCHIVE_BATCH_MAX),
  }),
  // catalog and alerts
  recordArchived: z.looseObject({
    cluster: name,
    staged: stagedFile,
    copies: z.array(z.looseObject({ store: name })),
    owed: z.array(name).optional(),
  }),
  recordRun: z.looseObject({ cluster: name, kind: name, workflowId, startedAt: time, outcome: name, summary: record }),
  raiseAlert: alert,
  announceAlert: alert,
  resolveAlert: z.looseObject({ cluster: name, key: text.min(1) }),
  deliverPendingAlerts: z.looseObject({ cluster: name }),
  checkBackupAge: z.looseObject({ cluster: name, maxAgeMs: ms }),
  checkSpoolAge: z.looseObject({ cluster: name, hostId: name, oldestAgeMs: ms, maxAgeMs: ms }),
  // checks: a checks run from before hostLastPoll took the cluster may retry it without one
  clusterHosts: z.looseObject({ cluster: name }),
  hostLastPoll: z.looseObject({ cluster: name.optional(), hostId: name }),
  newestArchived: z.looseObject({ cluster: name }),
  hostReport: z.looseObject({ cluster: name, after: afterWal }),
  // store-side upkeep
  storesOwedCopies: z.looseObject({ cluster: name }),
  makeOwedCopies: z.looseObject({ cluster: name, store: name, limit: positive }),
  verifyArchive: z.looseObject({ cluster: name, deep: z.boolean(), repair: z.boolean() }),
  planRetention: z.looseObject({ cluster: name, now: time, policy: retentionPolicy }),
  applyRetention: z.looseObject({
    plan: z.looseObject({ cluster: name, stores: z.array(z.looseObject({ store: name })), details: runRef }),
  }),
  recoverableSummary: z.looseObject({ cluster: name }),
  checkRestoreTarget: z.looseObject({ cluster: name, target: recoveryTarget, targetTimeline: timeline }),
  // base backups
  streamBaseBackup: z.looseObject({ cluster: name, backupId, parent: backupId.optional() }),
  chooseBackupParent: z.looseObject({ cluster: name, fullEveryMs: positive.optional(), now: z.iso.datetime() }),
  backupWalMissing: z.looseObject({
    cluster: name,
    timeline: positive,
    startLsn: lsn,
    stopLsn: lsn,
    segmentSize: positive,
    stores: z.array(name),
  }),
  writeBackupManifest: z.looseObject({ record: backupRecord }),
  recordBackup: z.looseObject({
    cluster: name,
    backupId,
    hostId: name,
    status: name,
    startedAt: time,
    streamed: backupSummary.optional(),
    manifest: backupRecord.optional(),
    error: z.string().optional(),
  }),
  // restores
  restoreDefaults: z.undefined(),
  prepareDataDir: z.looseObject({ pgdata: absolutePath, cluster: name, restoreKey: backupId }),
  chooseBackup: z.looseObject({
    cluster: name,
    backupId: backupId.optional(),
    target: recoveryTarget,
    stores: storeList.optional(),
  }),
  downloadBackup: z.looseObject({
    cluster: name,
    backupId,
    pgdata: absolutePath,
    stores: storeList.optional(),
    check: z.boolean().optional(),
  }),
  combineBackups: z.looseObject({ links: z.array(absolutePath).min(1), pgdata: absolutePath, pgVersion: positive }),
  planWal: z.looseObject({
    cluster: name,
    manifest: backupRecord,
    target: recoveryTarget,
    targetTimeline: timeline,
    stores: storeList.optional(),
  }),
  prefetchWal: z.looseObject({
    cluster: name,
    names: z.array(walName).optional(),
    plan: z.looseObject({ details: runRef, files: size }).optional(),
    dir: absolutePath,
    stores: storeList.optional(),
  }),
  newestArchivedSegment: z.looseObject({ cluster: name, timeline: positive, stores: storeList.optional() }),
  writeRecoverySettings: z.looseObject({
    cluster: name,
    pgdata: absolutePath,
    workDir: absolutePath,
    prefetchDir: absolutePath,
    target: recoveryTarget,
    targetTimeline: timeline,
    port: port.optional(),
    archive: z.boolean().optional(),
    stores: storeList.optional(),
  }),
  startRestored: z.looseObject({
    pgdata: absolutePath,
    logFile: absolutePath,
    envFile: absolutePath.optional(),
    mustReach: z.looseObject({ name: walName, store: name, segmentSize: positive }).optional(),
  }),
  cleanupPrefetch: z.looseObject({ prefetchDir: absolutePath }),
  forgetRestoreCredentials: z.looseObject({ workDir: absolutePath }),
  recordRestore: z.looseObject({
    cluster: name,
    workflowId,
    startedAt: time,
    outcome: name,
    summary: record,
  }),
  // drills
  drillCheckSpace: z.looseObject({ scratch: absolutePath, needBytes: z.number().nonnegative() }),
  drillPrepare: z.looseObject({ cluster: name, drillId: z.string().regex(/^\d+$/) }),
  drillCheck: z.looseObject({ pgdata: absolutePath, port, query }),
  drillCleanup: z.looseObject({ scratch: absolutePath, pgdata: absolutePath }),
};

/** Bytes of `s` in UTF-8, without Buffer (workflow code has none). */
function utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}

/** zod's issues as one line: "field: what it must be; ...". */
export function formatIssues(err: z.ZodError, prefix = ''): string {
  return err.issues.map((i) => `${prefix}${i.path.join('.') || '(input)'}: ${i.message}`).join('; ');
}

/** The parsed input, or one line that says what is wrong with it. */
export function parseInput<T>(
  schema: z.ZodType<T>,
  raw: unknown,
  what: string,
): { ok: true; value: T } | { ok: false; message: string } {
  const r = schema.safeParse(raw);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, message: `${what} input refused: ${formatIssues(r.error)}` };
}
