// walflow doctor [--json]: checks this host in the order things break, each check one line that
// says what it found and what to do. Exit 1 when a check fails; warnings alone exit 0.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseEnv } from 'node:util';
import { Client as PgClient } from 'pg';
import { Client, ScheduleNotFoundError } from '@temporalio/client';
import { Catalog, openCatalog, pendingMigrations } from '../../db/client';
import { newestCompleteBackup } from '../../db/reports';
import { parseArchiveCommand } from '../../lib/archivecommand';
import type { Config } from '../../lib/config';
import { StoreConfig, storeSettingPrefix } from '../../lib/stores/settings';
import { formatDuration } from '../../lib/duration';
import { UserError } from '../../lib/errors';
import { policyDifferences, policyOf } from '../../lib/policy';
import { redactUrl } from '../../lib/secrets';
import { probeCreateOnly } from '../../lib/stores/probe';
import { openStore } from '../../lib/stores/registry';
import { connectClient, recentPollers } from '../../lib/temporal';
import { appliedPolicy, clusterSchedules } from '../../workers/schedules';
import { hostQueue, sweepScheduleId } from '../../lib/contracts';

export type CheckStatus = 'ok' | 'warn' | 'fail';
export interface Check {
  check: string;
  status: CheckStatus;
  found: string;
  fix?: string;
}

const WALFLOW = path.resolve(__dirname, '..', '..', '..', 'bin', 'walflow');
const GiB = 2 ** 30;
const SPOOL_FAIL_BYTES = 1 * GiB;
const SPOOL_WARN_BYTES = 10 * GiB;

const ok = (check: string, found: string): Check => ({ check, status: 'ok', found });
const warn = (check: string, found: string, fix: string): Check => ({ check, status: 'warn', found, fix });
const fail = (check: string, found: string, fix: string): Check => ({ check, status: 'fail', found, fix });
const message = (e: unknown) => ((e as Error)?.message || String(e)).split('\n')[0];

/** The OS user PostgreSQL runs as: the owner of its data directory, else `postgres`. */
function postgresOsUser(dataDirectory: string | undefined): string {
  try {
    if (dataDirectory) {
      const uid = fs.statSync(dataDirectory).uid;
      const name = spawnSync('id', ['-nu', String(uid)], { encoding: 'utf8' }).stdout.trim();
      if (name) return name;
    }
  } catch {
    /* another host's path, or not ours to see */
  }
  return 'postgres';
}

/** Whether `user` may read (r) or write (w) `file`; undefined when this user cannot tell. */
function allowed(user: string, file: string, mode: 'r' | 'w'): boolean | undefined {
  const uid = Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout.trim());
  if (uid === process.getuid?.()) {
    try {
      fs.accessSync(file, mode === 'r' ? fs.constants.R_OK : fs.constants.W_OK | fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  }
  // Only root can ask as another user, with that user's groups.
  if (process.getuid?.() !== 0) return undefined;
  return spawnSync('runuser', ['-u', user, '--', 'test', `-${mode}`, file]).status === 0;
}

interface PgFacts {
  settings: Map<string, string>;
  osUser: string;
}

async function readPostgres(url: string): Promise<PgFacts> {
  const pg = new PgClient({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await pg.connect();
    // reset_val: with archive_mode off, `setting` shows archive_command as "(disabled)".
    const r = await pg.query<{ name: string; setting: string; reset_val: string }>(
      "SELECT name, setting, reset_val FROM pg_settings WHERE name IN ('wal_level', 'archive_mode', 'archive_command', 'archive_timeout', 'data_directory', 'server_version_num', 'summarize_wal')",
    );
    const settings = new Map(r.rows.map((x) => [x.name, x.name === 'archive_command' ? x.reset_val : x.setting]));
    return { settings, osUser: postgresOsUser(settings.get('data_directory')) };
  } finally {
    await pg.end().catch(() => undefined);
  }
}

function checkArchiveCommand(config: Config, facts: PgFacts): Check {
  const name = 'archive_command';
  const command = facts.settings.get('archive_command') ?? '';
  const wanted = `set archive_command = '${WALFLOW} push %p %f --env-file <settings file>' in postgresql.conf and reload PostgreSQL`;
  const call = parseArchiveCommand(command);
  if (!call) return fail(name, command ? `'${command}' does not run walflow` : 'empty', wanted);
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return p;
    }
  };
  if (real(call.program) !== real(WALFLOW))
    return fail(name, `runs ${call.program}, not this walflow (${WALFLOW})`, wanted);
  if (!call.pushes) return fail(name, `'${command}' does not call 'push %p %f'`, wanted);
  if (!call.envFile) {
    return warn(
      name,
      `'${command}' passes no --env-file`,
      `unless PostgreSQL's own environment has WALFLOW_ENV_FILE, add --env-file <settings file>`,
    );
  }
  const readable = allowed(facts.osUser, call.envFile, 'r');
  if (readable === false) {
    return fail(
      name,
      `${facts.osUser} cannot read the env file ${call.envFile}`,
      `let ${facts.osUser} read it (e.g. chgrp ${facts.osUser} ${call.envFile}; chmod 640 ${call.envFile}) and every folder above it`,
    );
  }
  if (readable === undefined)
    return warn(
      name,
      `runs walflow with ${call.envFile}`,
      `run doctor as root or ${facts.osUser} to check that ${facts.osUser} can read it`,
    );
  let theirs: NodeJS.Dict<string>;
  try {
    theirs = parseEnv(fs.readFileSync(call.envFile, 'utf8'));
  } catch {
    return ok(name, `runs walflow with ${call.envFile}`);
  }
  for (const [key, mine] of [
    ['WALFLOW_CLUSTER', config.cluster],
    ['WALFLOW_SPOOL_DIR', config.spoolDir],
  ] as const) {
    if (theirs[key] !== undefined && theirs[key] !== mine) {
      return fail(
        name,
        `${call.envFile} has ${key}=${theirs[key]}, these settings ${mine}: PostgreSQL hands WAL to a spool this host's worker does not archive`,
        'use one settings file for archive_command and the worker',
      );
    }
  }
  return ok(name, `runs this walflow with ${call.envFile}`);
}

/** PostgreSQL's settings, and the OS user it runs as (postgres when it cannot be asked). */
async function checkPostgres(config: Config): Promise<{ checks: Check[]; osUser: string }> {
  if (!config.pgUrl) {
    return {
      osUser: 'postgres',
      checks: [
        warn(
          'postgres',
          "WALFLOW_PG_URL is not set: PostgreSQL's settings were not checked",
          'set WALFLOW_PG_URL (base backups need it too)',
        ),
      ],
    };
  }
  let facts: PgFacts;
  try {
    facts = await readPostgres(config.pgUrl);
  } catch (e) {
    return {
      osUser: 'postgres',
      checks: [
        fail('postgres', `cannot connect with WALFLOW_PG_URL: ${message(e)}`, 'start PostgreSQL or fix WALFLOW_PG_URL'),
      ],
    };
  }
  const s = (n: string) => facts.settings.get(n) ?? '?';
  const timeout = Number(s('archive_timeout'));
  return {
    osUser: facts.osUser,
    checks: [
      ['replica', 'logical'].includes(s('wal_level'))
        ? ok('wal_level', s('wal_level'))
        : fail('wal_level', s('wal_level'), 'set wal_level = replica in postgresql.conf and restart PostgreSQL'),
      ['on', 'always'].includes(s('archive_mode'))
        ? ok('archive_mode', s('archive_mode'))
        : fail('archive_mode', s('archive_mode'), 'set archive_mode = on in postgresql.conf and restart PostgreSQL'),
      checkArchiveCommand(config, facts),
      ...(Number(s('server_version_num')) >= 170000 ? [checkSummarizeWal(config, s('summarize_wal'))] : []),
      timeout > 0
        ? ok('archive_timeout', `${timeout}s`)
        : warn(
            'archive_timeout',
            "off: a quiet cluster's last commits wait in pg_wal until a segment fills",
            'set archive_timeout = 60s and reload PostgreSQL',
          ),
    ],
  };
}

/** PostgreSQL 17+: incremental backups need WAL summaries; required once the Schedule takes incrementals. */
function checkSummarizeWal(config: Config, setting: string): Check {
  if (setting === 'on') return ok('summarize_wal', 'on: incremental backups possible');
  const fix = 'set summarize_wal = on in postgresql.conf, reload PostgreSQL, then take a full backup';
  if (config.backupFullEveryMs)
    return fail('summarize_wal', `${setting}: WALFLOW_BACKUP_FULL_EVERY asks for incremental backups`, fix);
  return warn('summarize_wal', `${setting}: walflow backup --incremental is refused`, fix);
}

/** `user` is who runs archive_command: push writes into the spool as that user. */
function checkSpool(config: Config, user: string): Check {
  const name = 'spool';
  const dir = config.spoolDir;
  if (!fs.existsSync(dir))
    return fail(
      name,
      `${dir} does not exist`,
      `create it on the disk of pg_wal, owned by ${user} (mkdir -p ${dir}; chown ${user} ${dir})`,
    );
  const clusterDir = path.join(dir, config.cluster);
  for (const d of fs.existsSync(clusterDir) ? [dir, clusterDir] : [dir]) {
    if (allowed(user, d, 'w') === false) return fail(name, `${user} cannot write to ${d}`, `chown -R ${user} ${dir}`);
  }
  const st = fs.statfsSync(dir);
  const free = st.bavail * st.bsize;
  const found = `${dir}, ${(free / GiB).toFixed(1)} GiB free`;
  if (free < SPOOL_FAIL_BYTES)
    return fail(
      name,
      found,
      'free space on that disk: when the spool cannot take a segment, PostgreSQL keeps WAL in pg_wal until it fills',
    );
  if (free < SPOOL_WARN_BYTES)
    return warn(
      name,
      found,
      "keep room for a store outage's worth of WAL (segments wait in the spool until every store has them)",
    );
  return ok(name, found);
}

/** What a store's failure means, by the error the driver threw. */
function storeFailure(cfg: StoreConfig, e: unknown): Check {
  const name = `store ${cfg.name}`;
  const p = storeSettingPrefix(cfg.name);
  const err = e as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const text = `${err.name ?? ''} ${err.code ?? ''} ${message(e)}`;
  if (cfg.type === 'fs')
    return fail(
      name,
      `cannot write to ${cfg.path}: ${message(e)}`,
      `create ${cfg.path} and let the worker's user write to it`,
    );
  if (/NoSuchBucket/.test(text))
    return fail(
      name,
      `bucket ${cfg.bucket} does not exist at ${cfg.endpoint ?? 'AWS'}`,
      `create it, or fix ${p}BUCKET`,
    );
  if (
    /InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|Forbidden/.test(text) ||
    err.$metadata?.httpStatusCode === 403
  ) {
    return fail(
      name,
      `credentials refused (${err.name ?? message(e)})`,
      `fix ${p}ACCESS_KEY_ID / ${p}SECRET_ACCESS_KEY; the key must read, write, list and delete in ${cfg.bucket}`,
    );
  }
  if (/IncorrectRegion|AuthorizationHeaderMalformed/.test(text))
    return fail(name, `wrong region (${message(e)})`, `fix ${p}REGION`);
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ECONNRESET|Timeout|socket hang up/i.test(text)) {
    return fail(
      name,
      `unreachable at ${cfg.endpoint ?? 'AWS'} (${message(e) || err.code})`,
      `check ${p}ENDPOINT and the network`,
    );
  }
  return fail(name, `error: ${message(e)}`, `check the ${p}* settings`);
}

async function checkStore(config: Config, cfg: StoreConfig): Promise<Check> {
  const name = `store ${cfg.name}`;
  const store = openStore(cfg);
  const how =
    cfg.type === 's3' && !cfg.conditionalPut
      ? 'create-only by a HEAD before each PUT (CONDITIONAL_PUT=false)'
      : cfg.type === 's3'
        ? 'create-only (If-None-Match honoured)'
        : 'create-only';
  try {
    const r = await probeCreateOnly(store, config.cluster, config.hostId);
    if (r.outcome !== 'create-only') {
      return fail(
        name,
        r.outcome === 'overwrites'
          ? `${store.location} overwrote an existing object despite If-None-Match`
          : `${store.location} answered a second write of one name as written`,
        `set ${storeSettingPrefix(cfg.name)}CONDITIONAL_PUT=false (walflow then checks with a HEAD first), or use a store that honours If-None-Match`,
      );
    }
    if (!r.removed)
      return warn(
        name,
        `${store.location}: ${how}, but the probe object stayed`,
        `delete ${config.cluster}/doctor/ in ${store.location}`,
      );
    return ok(name, `${store.location}: writes, reads, deletes; ${how}`);
  } catch (e) {
    return storeFailure(cfg, e);
  }
}

async function checkWorker(client: Client, config: Config, osUser: string): Promise<Check> {
  const queue = hostQueue(config.cluster, config.hostId);
  const pollers = await recentPollers(client, queue);
  if (!pollers.length) {
    return fail(
      'worker',
      `no worker polls ${queue}`,
      `run 'walflow worker --env-file <settings file>' on this host as ${osUser} (systemd or similar)`,
    );
  }
  return ok('worker', `${pollers.length} polling ${queue}: ${pollers.join(', ')}`);
}

async function checkSchedules(client: Client, config: Config): Promise<Check> {
  const ids = [...clusterSchedules(config).map((s) => s.scheduleId), sweepScheduleId(config.cluster, config.hostId)];
  const missing: string[] = [];
  for (const id of ids) {
    try {
      await client.schedule.getHandle(id).describe();
    } catch (e) {
      if (!(e instanceof ScheduleNotFoundError))
        return fail('schedules', `cannot read ${id}: ${message(e)}`, 'check Temporal and retry');
      missing.push(id);
    }
  }
  if (missing.length) {
    return fail(
      'schedules',
      `missing: ${missing.join(', ')}`,
      `run 'walflow schedules apply --env-file <settings file>' with this host's settings (a host's archive-sweep comes with its worker)`,
    );
  }
  const policy = await appliedPolicy(client, config.cluster);
  const differences = policy ? policyDifferences(policyOf(config), policy) : [];
  if (differences.length) {
    return warn(
      'schedules',
      `applied, but these settings differ from the cluster's policy: ${differences.map((d) => `${d.setting} here ${d.here}, cluster ${d.cluster}`).join('; ')}`,
      "run 'walflow schedules apply' if these settings are meant to be the policy, else align them",
    );
  }
  return ok('schedules', `${ids.length} applied: ${ids.join(', ')}`);
}

async function checkTemporal(config: Config, osUser: string): Promise<Check[]> {
  let client: Client;
  try {
    client = await connectClient(config);
    await client.workflowService.describeNamespace({ namespace: config.temporalNamespace });
  } catch (e) {
    const notChecked = (c: string) => warn(c, 'not checked: Temporal is unreachable', 'fix the temporal line first');
    // connectClient's own message already says what to do; keep what it found.
    const found =
      e instanceof UserError
        ? message(e).split('; ')[0]
        : `namespace ${config.temporalNamespace} at ${config.temporalAddress}: ${message(e)}`;
    return [
      fail('temporal', found, 'start Temporal, or fix TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE'),
      notChecked('worker'),
      notChecked('schedules'),
    ];
  }
  try {
    return [
      ok('temporal', `${config.temporalAddress} namespace ${config.temporalNamespace}`),
      await checkWorker(client, config, osUser),
      await checkSchedules(client, config),
    ];
  } finally {
    await client.connection.close().catch(() => undefined);
  }
}

async function checkBackups(db: Catalog, config: Config): Promise<Check> {
  const newest = await newestCompleteBackup(db, config.cluster);
  if (!newest) {
    return fail(
      'backups',
      `no complete base backup of ${config.cluster}: the WAL alone restores nothing`,
      "run 'walflow backup --wait', and 'walflow schedules apply' for the daily Schedule",
    );
  }
  const age = Date.now() - newest.completedAt.getTime();
  const found = `newest ${newest.backupId}, ${formatDuration(age)} old, ${((newest.storedSize ?? 0) / 2 ** 20).toFixed(1)} MiB stored`;
  const limit = config.policy.alerts.backupAgeMs;
  if (age > limit)
    return warn(
      'backups',
      `${found} (older than ${formatDuration(limit)})`,
      "check the base-backup Schedule's recent runs in the Web UI, or run 'walflow backup --wait'",
    );
  return ok('backups', found);
}

async function checkCatalog(config: Config): Promise<Check[]> {
  const db = openCatalog(config.catalogUrl);
  try {
    let pending: string[];
    try {
      pending = await pendingMigrations(db);
    } catch (e) {
      return [
        fail(
          'catalog',
          `cannot reach ${redactUrl(config.catalogUrl)}: ${message(e)}`,
          'start it or fix WALFLOW_CATALOG_URL',
        ),
        warn('backups', 'not checked: the catalog is unreachable', 'fix the catalog line first'),
      ];
    }
    if (pending.length) {
      return [
        fail(
          'catalog',
          `not migrated: ${pending.join(', ')} not applied`,
          'start (or restart) the worker, which migrates the catalog at start',
        ),
        warn('backups', 'not checked: the catalog is not migrated', 'fix the catalog line first'),
      ];
    }
    return [ok('catalog', 'migrated'), await checkBackups(db, config)];
  } finally {
    await db.$client.end().catch(() => undefined);
  }
}

export async function runChecks(config: Config): Promise<Check[]> {
  const postgres = await checkPostgres(config);
  return [
    ...postgres.checks,
    checkSpool(config, postgres.osUser),
    ...(await Promise.all(config.stores.map((s) => checkStore(config, s)))),
    ...(await checkTemporal(config, postgres.osUser)),
    ...(await checkCatalog(config)),
  ];
}

export async function doctor(config: Config, o: { json?: boolean }): Promise<void> {
  const checks = await runChecks(config);
  const failed = checks.filter((c) => c.status === 'fail').length;
  const warned = checks.filter((c) => c.status === 'warn').length;
  if (o.json) {
    process.stdout.write(JSON.stringify({ ok: failed === 0, checks }, null, 2) + '\n');
  } else {
    const width = Math.max(...checks.map((c) => c.check.length));
    const label = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };
    for (const c of checks)
      process.stdout.write(`${label[c.status]}  ${c.check.padEnd(width)}  ${c.found}${c.fix ? ` -> ${c.fix}` : ''}\n`);
    process.stdout.write(
      failed
        ? `${failed} failed, ${warned} warnings: fix them from the top\n`
        : warned
          ? `no failures, ${warned} warnings\n`
          : 'every check passed\n',
    );
  }
  if (failed) process.exitCode = 1;
}
