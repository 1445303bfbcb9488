// PostgreSQL's programs for one major version, and the OS user they run as. A backup restores
// only with the binaries of its own major version, so every caller names the version it needs:
// WALFLOW_PG_BINDIR when set (folders separated by ':'), else pg_config's bindir when it is that
// version, else the distributions' versioned folders.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from './errors';

/** Debian/Ubuntu (postgresql-<major>) and RHEL/PGDG (postgresql<major>-server) layouts. */
const DISTRO_BINDIRS: ((major: number) => string)[] = [
  (major) => `/usr/lib/postgresql/${major}/bin`,
  (major) => `/usr/pgsql-${major}/bin`,
];

/** The needed major version is not installed where walflow looks; the message says what to do. */
export class PgBinariesMissingError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'PgBinariesMissing';
  }
}

/** server_version_num (150018) or a PG_VERSION file's text ("15") to a major version. */
export function pgMajor(version: number | string): number {
  const n = Number(String(version).trim());
  if (!Number.isInteger(n) || n <= 0) throw new Error(`not a PostgreSQL version: "${version}"`);
  return n >= 100000 ? Math.floor(n / 10000) : n;
}

/** The major version of the data folder's cluster, from its PG_VERSION file. */
export function dataDirMajor(pgdata: string): number {
  return pgMajor(fs.readFileSync(path.join(pgdata, 'PG_VERSION'), 'utf8'));
}

const reported = new Map<string, number | undefined>();

/** Major version a program says it belongs to ("pg_ctl (PostgreSQL) 15.18"); undefined when it will not run. */
function reportedMajor(program: string): number | undefined {
  if (!reported.has(program)) {
    let major: number | undefined;
    try {
      const out = execFileSync(program, ['--version'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 10_000,
      });
      const m = /\(PostgreSQL\) (\d+)/.exec(out);
      major = m ? Number(m[1]) : undefined;
    } catch {
      major = undefined;
    }
    reported.set(program, major);
  }
  return reported.get(program);
}

function pgConfigBindir(env: NodeJS.ProcessEnv): { bindir: string; major: number } | undefined {
  try {
    const run = (arg: string) =>
      execFileSync('pg_config', [arg], {
        encoding: 'utf8',
        env,
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 10_000,
      }).trim();
    const major = /PostgreSQL (\d+)/.exec(run('--version'))?.[1];
    return major ? { bindir: run('--bindir'), major: Number(major) } : undefined;
  } catch {
    return undefined; // no pg_config on PATH
  }
}

/** Path of PostgreSQL `major`'s `tool` (pg_ctl, pg_basebackup, ...); throws PgBinariesMissingError. */
export function pgTool(
  tool: string,
  major: number,
  env: NodeJS.ProcessEnv = process.env,
  distro = DISTRO_BINDIRS,
): string {
  const matches = (dir: string) => {
    const p = path.join(dir, tool);
    return fs.existsSync(p) && reportedMajor(p) === major ? p : undefined;
  };
  const explicit = env.WALFLOW_PG_BINDIR;
  if (explicit) {
    // Set on purpose: never fall back to other binaries behind the operator's back.
    const dirs = explicit.split(':').filter(Boolean);
    for (const dir of dirs) {
      const p = matches(dir);
      if (p) return p;
    }
    const found = dirs.map((d) => `${d}: ${describe(path.join(d, tool))}`).join(', ');
    throw new PgBinariesMissingError(
      `PostgreSQL ${major}'s ${tool} is not in WALFLOW_PG_BINDIR (${found}); add PostgreSQL ${major}'s bin folder to WALFLOW_PG_BINDIR`,
    );
  }
  const fromPgConfig = pgConfigBindir(env);
  if (fromPgConfig?.major === major) {
    const p = matches(fromPgConfig.bindir);
    if (p) return p;
  }
  for (const layout of distro) {
    const p = matches(layout(major));
    if (p) return p;
  }
  const looked = [
    ...(fromPgConfig ? [`pg_config --bindir (PostgreSQL ${fromPgConfig.major})`] : []),
    ...distro.map((l) => l(major)),
  ];
  throw new PgBinariesMissingError(
    `PostgreSQL ${major} is not installed on this host (no ${tool} in ${looked.join(', ')}): ` +
      `install PostgreSQL ${major} (Debian: postgresql-${major}, RHEL: postgresql${major}-server) or set WALFLOW_PG_BINDIR to its bin folder`,
  );
}

function describe(program: string): string {
  if (!fs.existsSync(program)) return 'missing';
  const major = reportedMajor(program);
  return major === undefined ? 'does not run' : `PostgreSQL ${major}`;
}

/** uid/gid of the postgres OS user when running as root (PostgreSQL refuses to run as root). */
export function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}
