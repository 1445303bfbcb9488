// Configuration for a restored data folder whose backup holds none: clusters laid out as
// Debian does keep postgresql.conf, pg_hba.conf and pg_ident.conf in /etc/postgresql/..., so
// pg_basebackup never sees them and PostgreSQL will not start without them.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileDurably } from './fsutil';
import { UserError } from './errors';
import { hasControlCharacter } from './inputs';
import { dataDirMajor, pgTool } from './pgbin';

const HEADER =
  '# Written by walflow restore: the backup holds no such file (its cluster kept its configuration\n' +
  "# outside the data folder, as Debian does). Local connections only; bring over the source's\n" +
  '# settings before opening this cluster to others.\n';

/**
 * Settings below the source's make recovery pause (stop before PostgreSQL 14) for
 * "insufficient parameter settings": take the values the control file recorded.
 * pg_controldata's label -> setting name.
 */
const RECORDED_SETTINGS: Record<string, string> = {
  'max_connections setting': 'max_connections',
  'max_worker_processes setting': 'max_worker_processes',
  'max_wal_senders setting': 'max_wal_senders',
  'max_prepared_xacts setting': 'max_prepared_transactions',
  'max_locks_per_xact setting': 'max_locks_per_transaction',
};

const HBA = [
  '# TYPE  DATABASE     USER  ADDRESS       METHOD',
  'local   all          all                 peer',
  'host    all          all   127.0.0.1/32  scram-sha-256',
  'host    all          all   ::1/128       scram-sha-256',
  'local   replication  all                 peer',
  'host    replication  all   127.0.0.1/32  scram-sha-256',
  'host    replication  all   ::1/128       scram-sha-256',
];

function recordedSettings(pgdata: string): string[] {
  const text = execFileSync(pgTool('pg_controldata', dataDirMajor(pgdata)), ['-D', pgdata], {
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C' },
  });
  const lines: string[] = [];
  for (const [label, name] of Object.entries(RECORDED_SETTINGS)) {
    const value = new RegExp(`^${label}:\\s+(\\d+)$`, 'm').exec(text)?.[1];
    if (value) lines.push(`${name} = ${value}`);
  }
  return lines;
}

/** Writes whichever of the three files the data folder lacks; returns the names written. */
export async function writeMissingConfig(pgdata: string): Promise<string[]> {
  const contents: Record<string, () => string[]> = {
    'postgresql.conf': () => ["listen_addresses = 'localhost'", ...recordedSettings(pgdata)],
    'pg_hba.conf': () => HBA,
    'pg_ident.conf': () => [],
  };
  const written: string[] = [];
  for (const [name, lines] of Object.entries(contents)) {
    const file = path.join(pgdata, name);
    if (fs.existsSync(file)) continue;
    await writeFileDurably(
      file,
      Buffer.from(
        HEADER +
          lines()
            .map((l) => l + '\n')
            .join(''),
      ),
    );
    written.push(name);
  }
  return written;
}

/**
 * A string setting as PostgreSQL's configuration parser reads it back: in single quotes, quotes
 * doubled and backslashes escaped. A control character cannot be written that way (a newline
 * ends the line and would start a setting of its own): refused.
 */
export function confString(value: string): string {
  if (hasControlCharacter(value))
    throw new UserError(
      `${JSON.stringify(value)} cannot go into a PostgreSQL configuration file: it holds a control character (newline, tab, ...)`,
    );
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** What a restore reports about the files it wrote. */
export function describeWrittenConfig(written: string[]): string | undefined {
  return written.length
    ? `the backup holds no ${written.join(', ')}: wrote minimal ones (local connections only)`
    : undefined;
}
