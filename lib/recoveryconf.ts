// Recovery settings in a data folder's configuration. A base backup carries whatever its
// cluster's configuration held, including an earlier restore's target and restore_command or a
// standby's primary_conninfo; left in force they steer the next restore (an old
// recovery_target_time silently wins over "the end of the archive"). They are commented out
// with a marker, never deleted, so that a human can still read what was there.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RESTORE_ENV_FILE } from './contracts';
import { UserError } from './errors';
import { fsyncDir } from './fsync';
import { writeFileDurably } from './fsutil';

/** Every setting that steers archive recovery or replication, PostgreSQL 12 on, plus recovery.conf-era names. */
const RECOVERY_SETTINGS: ReadonlySet<string> = new Set([
  'restore_command',
  'archive_cleanup_command',
  'recovery_end_command',
  'recovery_target',
  'recovery_target_lsn',
  'recovery_target_name',
  'recovery_target_time',
  'recovery_target_xid',
  'recovery_target_inclusive',
  'recovery_target_timeline',
  'recovery_target_action',
  'recovery_min_apply_delay',
  'primary_conninfo',
  'primary_slot_name',
  'promote_trigger_file',
  // recovery.conf names: PostgreSQL 12 and later refuse to start with them in postgresql.conf.
  'standby_mode',
  'trigger_file',
  'pause_at_recovery_target',
]);

const CONFIG_FILES = ['postgresql.conf', 'postgresql.auto.conf'];

/** recovery.conf stops PostgreSQL 12 and later from starting; standby.signal would keep it a standby forever. */
const LEFTOVER_FILES = ['recovery.conf', 'standby.signal'];
const SET_ASIDE_SUFFIX = '.walflow-disabled';

/** Comments out each line that sets a recovery setting, prefixed with `why`; returns the settings it found. */
export function commentOutRecoverySettings(text: string, why: string): { text: string; settings: string[] } {
  const settings: string[] = [];
  const lines = text.split('\n').map((line) => {
    // A setting line: its name, then "=" or white space (PostgreSQL accepts both); names ignore case.
    const name = /^\s*([A-Za-z_][\w.$-]*)\s*(?:=|\s|$)/.exec(line)?.[1].toLowerCase();
    if (!name || !RECOVERY_SETTINGS.has(name)) return line;
    settings.push(name);
    return `# ${why}: ${line.trim()}`;
  });
  return { text: lines.join('\n'), settings };
}

/** Comments out the recovery settings of the data folder's configuration files; "setting (file)" for each. */
async function disableInConfig(pgdata: string, why: string): Promise<string[]> {
  const disabled: string[] = [];
  for (const file of CONFIG_FILES) {
    const full = path.join(pgdata, file);
    let text: string;
    try {
      text = fs.readFileSync(full, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // Debian keeps postgresql.conf in /etc
      throw e;
    }
    const r = commentOutRecoverySettings(text, why);
    if (r.settings.length === 0) continue;
    await writeFileDurably(full, Buffer.from(r.text));
    disabled.push(...r.settings.map((s) => `${s} (${file})`));
  }
  return disabled;
}

/**
 * Before a restore writes its own settings: everything the backup brought along that would
 * steer recovery, commented out, and recovery.conf or standby.signal set aside under a new name.
 */
export async function disableBackupRecoverySettings(pgdata: string): Promise<string[]> {
  const disabled = await disableInConfig(pgdata, 'disabled by walflow restore (came with the backup)');
  for (const file of LEFTOVER_FILES) {
    const full = path.join(pgdata, file);
    if (!fs.existsSync(full)) continue;
    fs.renameSync(full, full + SET_ASIDE_SUFFIX);
    await fsyncDir(pgdata);
    disabled.push(`${file} (now ${file}${SET_ASIDE_SUFFIX})`);
  }
  return disabled;
}

/** Once recovery has ended: the restore's own settings, so that this cluster's backups do not carry them. */
export async function disableRestoreSettings(pgdata: string): Promise<string[]> {
  return disableInConfig(pgdata, 'disabled by walflow at the end of recovery');
}

/** Removes a restore's fetch.env (its store credentials) once nothing will recover with it; any other file is refused. */
export async function forgetRestoreEnv(file: string): Promise<void> {
  if (path.basename(file) !== RESTORE_ENV_FILE || !path.isAbsolute(file))
    throw new UserError(`cannot forget ${file}: only a restore's ${RESTORE_ENV_FILE}, by its absolute path`);
  await fs.promises.rm(file, { force: true });
  await fsyncDir(path.dirname(file)).catch(() => undefined); // its folder may be gone too
}
