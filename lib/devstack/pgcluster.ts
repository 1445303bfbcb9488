// A PostgreSQL cluster that archives through walflow, for tests, the demo and the benchmark; and
// one that copies its WAL into a folder, for real WAL without walflow.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import { chownToPostgres, freePort, pgBin, postgresUser, ROOT } from './procs';
import { ClusterLayout, startPostgres, stopPostgres } from './stack';

export class PgCluster {
  constructor(
    readonly data: string,
    readonly port: number,
    readonly runDir: string,
    readonly logFile: string,
    readonly layout: ClusterLayout = {},
  ) {}

  get url() {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async start(): Promise<void> {
    await startPostgres(this.data, this.port, this.runDir, this.logFile, [], this.layout);
  }
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await stopPostgres(this.data, mode);
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const c = new Client({ connectionString: this.url });
    await c.connect();
    try {
      return (await c.query(sql, params)).rows as T[];
    } finally {
      await c.end();
    }
  }

  /** Runs a PostgreSQL client tool (pgbench, pg_basebackup, ...) against this cluster as postgres. */
  tool(name: string, args: string[]): string {
    return execFileSync(pgBin(name), ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', ...args], {
      cwd: '/',
      ...(postgresUser() ?? {}),
      env: { ...process.env, HOME: '/var/lib/postgresql' },
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 << 20,
    }).toString();
  }

  /** A streaming standby of this cluster (pg_basebackup -R) in `dir`, started on a free port. */
  async createStandby(dir: string): Promise<PgCluster> {
    fs.mkdirSync(dir, { recursive: true });
    chownToPostgres(dir);
    const data = path.join(dir, 'data');
    this.tool('pg_basebackup', ['-D', data, '-R', '-X', 'stream', '-c', 'fast']);
    const standby = new PgCluster(data, await freePort(), path.join(dir, 'run'), path.join(dir, 'postgres.log'));
    fs.appendFileSync(
      path.join(data, 'postgresql.conf'),
      `port = ${standby.port}\nunix_socket_directories = '${standby.runDir}'\n`,
    );
    await standby.start();
    return standby;
  }

  /** Forces the current segment out to archive_command; returns the name of the switched segment. */
  async switchWal(): Promise<string> {
    const [r] = await this.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name');
    return r.name;
  }
}

/** Creates (initdb) and starts a cluster whose archive_command is `walflow push %p %f --env-file F`. */
export async function createArchivingCluster(o: {
  dir: string;
  port: number;
  envFile: string;
  extraConf?: string[];
  layout?: ClusterLayout;
}): Promise<PgCluster> {
  const walflow = path.join(ROOT, 'bin', 'walflow');
  const pg = new PgCluster(
    path.join(o.dir, 'data'),
    o.port,
    path.join(o.dir, 'run'),
    path.join(o.dir, 'postgres.log'),
    o.layout,
  );
  await startPostgres(
    pg.data,
    pg.port,
    pg.runDir,
    pg.logFile,
    [
      'wal_level = replica',
      'archive_mode = on',
      `archive_command = '${walflow} push %p %f --env-file ${o.envFile}'`,
      'max_wal_senders = 4',
      'fsync = on',
      ...(o.extraConf ?? []),
    ],
    o.layout,
  );
  return pg;
}

/** A PostgreSQL in `dir`, started, whose archive_command copies every finished WAL file into `<dir>/archive`. */
export async function startCopyArchiving(
  dir: string,
  conf: string[] = [],
  layout: ClusterLayout = {},
): Promise<{ pg: PgCluster; archiveDir: string }> {
  const archiveDir = path.join(dir, 'archive');
  fs.mkdirSync(archiveDir, { recursive: true });
  chownToPostgres(dir, archiveDir);
  const pg = new PgCluster(
    path.join(dir, 'data'),
    await freePort(),
    path.join(dir, 'run'),
    path.join(dir, 'postgres.log'),
  );
  await startPostgres(
    pg.data,
    pg.port,
    pg.runDir,
    pg.logFile,
    [
      'wal_level = replica',
      'archive_mode = on',
      `archive_command = 'test ! -f ${archiveDir}/%f && cp %p ${archiveDir}/%f'`,
      ...conf,
    ],
    layout,
  );
  return { pg, archiveDir };
}
