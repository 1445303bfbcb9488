// walflow backup [--incremental] [--wait]: start a baseBackup now. walflow backups [--json]: what the catalog holds.
import { desc, eq } from 'drizzle-orm';
import { withCatalog } from '../../db/client';
import { backups as backupsTable } from '../../db/schema';
import type { Config } from '../../lib/config';
import { formatDuration } from '../../lib/duration';
import { connectClient, requireClusterWorker, workflowOutcome } from '../../lib/temporal';
import { formatLsn } from '../../lib/wal/lsn';
import { backupIdAt, BackupRecord, backupWorkflowId, BaseBackupInput } from '../../lib/contracts';
import { startOptions } from '../../lib/workflowstart';
import type { baseBackup } from '../../workflows/backup';

export async function backup(config: Config, o: { wait?: boolean; incremental?: boolean }): Promise<void> {
  const client = await connectClient(config);
  try {
    await requireClusterWorker(client, config.cluster);
    const backupId = backupIdAt(new Date());
    const input: BaseBackupInput = {
      cluster: config.cluster,
      hostId: config.hostId,
      backupId,
      ...(o.incremental ? { incremental: true } : {}),
    };
    const workflowId = backupWorkflowId(config.cluster, backupId);
    const handle = await client.workflow.start<typeof baseBackup>('baseBackup', {
      ...startOptions({
        kind: 'backup',
        cluster: config.cluster,
        host: config.hostId,
        object: backupId,
        workflowId,
        memo: { backupId, trigger: o.incremental ? 'walflow backup --incremental' : 'walflow backup' },
      }),
      args: [input],
    });
    process.stderr.write(`backup started: ${workflowId}\n`);
    if (!o.wait) return;
    const t0 = Date.now();
    let last = '';
    const timer = setInterval(() => {
      void handle
        .describe()
        .then((d) => {
          const state = typeof d.memo?.state === 'string' ? d.memo.state : d.status.name;
          if (state !== last) process.stderr.write(`  ${formatDuration(Date.now() - t0)} ${state}\n`);
          last = state;
        })
        .catch(() => undefined);
    }, 1000);
    let m: BackupRecord;
    try {
      m = await workflowOutcome(`backup ${backupId}`, workflowId, handle.result());
    } finally {
      clearInterval(timer);
    }
    process.stdout.write(
      `${m.parent ? `incremental backup ${m.backupId} (on ${m.parent})` : `backup ${m.backupId}`} complete: ${mib(m.rawSize)} raw -> ${mib(m.storedSize)} stored in ${m.fileCount} chunk(s), ` +
        `WAL ${m.startLsn} .. ${m.stopLsn} on timeline ${m.timeline}, in ${m.stores.join(', ')}\n`,
    );
  } finally {
    await client.connection.close();
  }
}

/** The parent an incremental's manifest (kept in the catalog row) names. */
function parentOf(manifest: unknown): string | undefined {
  const parent = (manifest as { parent?: unknown } | null)?.parent;
  return typeof parent === 'string' ? parent : undefined;
}

const mib = (n: number | null | undefined) => `${((n ?? 0) / 2 ** 20).toFixed(1)} MiB`;

export async function listBackups(config: Config, o: { json?: boolean }): Promise<void> {
  const rows = await withCatalog(config.catalogUrl, (db) =>
    db
      .select()
      .from(backupsTable)
      .where(eq(backupsTable.cluster, config.cluster))
      .orderBy(desc(backupsTable.startedAt)),
  );
  const list = rows.map((r) => ({
    backupId: r.backupId,
    status: r.status,
    kind: r.manifest ? (parentOf(r.manifest) ? 'incremental' : 'full') : null,
    parent: parentOf(r.manifest) ?? null,
    host: r.hostId,
    timeline: r.timeline,
    startLsn: r.startLsn === null ? null : formatLsn(r.startLsn),
    stopLsn: r.stopLsn === null ? null : formatLsn(r.stopLsn),
    startedAt: r.startedAt.toISOString(),
    stoppedAt: r.stoppedAt?.toISOString() ?? null,
    completedAt: r.completedAt?.toISOString() ?? null,
    rawSize: r.rawSize,
    storedSize: r.storedSize,
    pgVersion: r.pgVersion,
    systemIdentifier: r.systemIdentifier,
    stores: r.stores,
    error: r.error,
  }));
  if (o.json) {
    process.stdout.write(JSON.stringify(list, null, 2) + '\n');
    return;
  }
  if (list.length === 0) {
    process.stdout.write(`no backups of ${config.cluster} yet: run 'walflow backup --wait'\n`);
    return;
  }
  // Newest first, so a chain reads upwards: each incremental names the backup below it that it builds on.
  for (const b of list) {
    const kind = b.parent ? `incr on ${b.parent}` : (b.kind ?? '');
    process.stdout.write(
      `${b.backupId}  ${b.status.padEnd(15)} ${kind.padEnd(25)} ${mib(b.rawSize).padStart(10)} raw ${mib(b.storedSize).padStart(10)} stored  ` +
        `tl ${b.timeline ?? '-'}  ${b.startLsn ?? '-'} .. ${b.stopLsn ?? '-'}${b.error ? `  ${b.error}` : ''}\n`,
    );
  }
}
