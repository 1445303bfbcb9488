// Every command and flag but push; each command's module is loaded only when it runs.
import * as path from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '../lib/config';

const DEFAULT_DEV_DIR = path.resolve(__dirname, '..', '..', '.walflow');

export async function run(argv: string[]): Promise<void> {
  const program = new Command('walflow')
    .description('PostgreSQL WAL archiving, backups and point-in-time restore on Temporal')
    .option('--env-file <file>', 'read settings from this file (also WALFLOW_ENV_FILE)')
    .showHelpAfterError()
    .exitOverride();

  program.command('push <path> [name]').description('archive_command: walflow push %p %f --env-file F');
  program
    .command('fetch <name> <dest>')
    .description(
      'restore_command: walflow fetch %f %p --env-file F (exit 1: no store has it; above 125: recovery must stop)',
    )
    .option('--standby', 'for a standby: report a store that cannot answer as "no such file" (PostgreSQL asks again)');
  program
    .command('recovery-end [pgdata]')
    .description(
      "recovery_end_command (written by restore): disable the restore's recovery settings once recovery has ended",
    )
    .option('--forget <file>', "remove the restore's fetch.env (its store credentials): recovery needs it no more");

  program
    .command('worker')
    .description(
      'run a worker in the foreground (stops gracefully on SIGTERM); WALFLOW_ENV_FILES=a.env,b.env (or a folder of *.env) serves several clusters',
    )
    .action(async () =>
      (await import('../workers/main')).runWorker((await import('../lib/clusterconfigs')).loadClusterConfigs()),
    );

  program
    .command('archive')
    .description('sweep the spool now')
    .option('--wait', 'show progress and return when the spool is empty')
    .action(async (o: { wait?: boolean }) => (await import('./commands/archive')).archive(loadConfig(), o));

  program
    .command('status')
    .description('spool backlog, newest WAL per store, PostgreSQL archiver, open alerts')
    .option('--all', 'every cluster on the Temporal namespace, one line each')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean; all?: boolean }) =>
      o.all
        ? (await import('./commands/statusall')).statusAll(loadConfig(), o)
        : (await import('./commands/status')).status(loadConfig(), o),
    );

  program
    .command('recoverable')
    .description(
      'per timeline, what a restore can reach: from the oldest complete backup to the last archived commit, gaps, restore points',
    )
    .option('--timeline <n>', 'only this timeline')
    .option('--json', 'machine-readable output')
    .action(async (o: { timeline?: string; json?: boolean }) =>
      (await import('./commands/recoverable')).recoverable(loadConfig(), o),
    );

  program
    .command('verify')
    .description('check every WAL copy in every store, repair from a healthy one, find gaps')
    .option('--deep', 'download every object and check its SHA-256')
    .option('--json', 'machine-readable output')
    .action(async (o: { deep?: boolean; json?: boolean }) =>
      (await import('./commands/verify')).verify(loadConfig(), o),
    );

  program
    .command('prune')
    .description('apply retention: old backups and the WAL only they needed')
    .option('--dry-run', 'list what would be deleted and why, delete nothing')
    .option('--json', 'machine-readable output')
    .option('--as-of <time>', 'decide as if it were this time (ISO 8601)')
    .option(
      '--retention-days <n>',
      'keep backups this many days, in stores without their own (default WALFLOW_RETENTION_DAYS)',
    )
    .option('--min-backups <n>', 'keep at least this many backups (default WALFLOW_RETENTION_MIN_BACKUPS)')
    .action(async (o: import('./commands/prune').PruneOptions) =>
      (await import('./commands/prune')).prune(loadConfig(), o),
    );

  program
    .command('drill')
    .description('restore drill now: restore the newest state into a scratch folder, start it, check it, remove it')
    .option('--check <sql>', 'check query (default WALFLOW_DRILL_CHECK_QUERY)')
    .option('--json', 'machine-readable output')
    .action(async (o: { check?: string; json?: boolean }) => (await import('./commands/drill')).drill(loadConfig(), o));

  program
    .command('alerts')
    .description('open alerts (stored in the catalog, also sent to WALFLOW_ALERT_WEBHOOK_URL)')
    .option('--all', 'include resolved alerts')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean; all?: boolean }) =>
      (await import('./commands/alerts')).alerts(loadConfig(), o),
    );

  program
    .command('doctor')
    .description(
      'check this host: PostgreSQL settings, spool, stores, Temporal and the worker, catalog, backups, Schedules',
    )
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => (await import('./commands/doctor')).doctor(loadConfig(), o));

  const catalog = program.command('catalog').description('the catalog database');
  catalog
    .command('rebuild')
    .description('rebuild the catalog from the stores (after losing the catalog database)')
    .action(async () => (await import('./commands/catalog')).rebuild(loadConfig()));

  program
    .command('backup')
    .description('take a base backup now (pg_basebackup from WALFLOW_PG_URL into every store)')
    .option(
      '--incremental',
      'only what changed since the newest backup complete in every store (PostgreSQL 17+, summarize_wal = on)',
    )
    .option('--wait', 'show progress and return when the backup is complete (its WAL in every store)')
    .action(async (o: { wait?: boolean; incremental?: boolean }) =>
      (await import('./commands/backup')).backup(loadConfig(), o),
    );

  program
    .command('backups')
    .description('base backups in the catalog, newest first')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => (await import('./commands/backup')).listBackups(loadConfig(), o));

  program
    .command('restore')
    .description('point-in-time restore into an empty folder (one target at most; none = end of archive)')
    .option('--pgdata <dir>', 'empty or new folder for the restored cluster (on this host)')
    .option('--plan-only', 'choose the backup and plan the WAL, print them, and stop (nothing downloaded or written)')
    .option('--target-time <time>', 'recover up to this time (ISO 8601)')
    .option('--target-lsn <lsn>', 'recover up to this WAL location (e.g. 0/16B3748)')
    .option('--target-name <name>', 'recover up to this restore point (pg_create_restore_point)')
    .option('--target-xid <xid>', 'recover up to this transaction')
    .option('--immediate', 'stop as soon as the backup is consistent')
    .option('--timeline <n>', 'timeline to follow (default latest)')
    .option('--stores <names>', 'read only these stores, comma-separated (default all), e.g. while one is down')
    .option('--backup <id>', 'base backup to start from (default: newest that ends before the target)')
    .option('--start', 'start PostgreSQL and wait until it reached the target and promoted')
    .option('--port <n>', 'port for the restored PostgreSQL')
    .option('--archive', 'let the restored cluster archive (default off)')
    .option('--wait', 'show progress and return when done')
    .action(async (o: import('./commands/restore').RestoreOptions) =>
      (await import('./commands/restore')).restore(loadConfig(), o),
    );

  const schedules = program.command('schedules').description('Temporal Schedules');
  schedules
    .command('apply')
    .description("create or update the cluster's schedules with the policy of these settings (idempotent)")
    .option('--dry-run', 'show what would be created or changed, and how; change nothing')
    .action(async (o: { dryRun?: boolean }) => (await import('./commands/schedules')).apply(loadConfig(), o));
  schedules
    .command('retire-host')
    .argument('<host>', 'the WALFLOW_HOST_ID of a host that is gone for good')
    .description("stop treating a host as the cluster's: delete its archive-sweep, resolve its host alerts")
    .action(async (host: string) => (await import('./commands/schedules')).retireHost(loadConfig(), host));

  program
    .command('search-attributes')
    .description("walflow's search attributes in the Temporal namespace")
    .command('register')
    .description('register WalflowCluster, WalflowHost, WalflowKind and WalflowObject (once per namespace; idempotent)')
    .action(async () => (await import('./commands/searchattributes')).register(loadConfig()));

  const dev = program.command('dev').description('the embedded local stack for development, tests and the demo');
  const devDir = (o: { dir?: string }) => path.resolve(o.dir ?? process.env.WALFLOW_DEV_DIR ?? DEFAULT_DEV_DIR);
  dev
    .command('up')
    .description('start Temporal, two S3 servers, the catalog and a worker (idempotent)')
    .option('--dir <dir>', 'state folder', undefined)
    .action(async (o: { dir?: string }) => (await import('./commands/dev')).up(devDir(o)));
  dev
    .command('down')
    .description('stop what up started')
    .option('--dir <dir>', 'state folder', undefined)
    .action(async (o: { dir?: string }) => (await import('./commands/dev')).down(devDir(o)));
  dev
    .command('env')
    .description('print the settings of the local stack (source-able)')
    .option('--dir <dir>', 'state folder', undefined)
    .action(async (o: { dir?: string }) => (await import('./commands/dev')).env(devDir(o)));

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    const code = (e as { code?: string; exitCode?: number }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version') return;
    if (code?.startsWith('commander.')) process.exit((e as { exitCode: number }).exitCode || 1);
    throw e;
  }
}
