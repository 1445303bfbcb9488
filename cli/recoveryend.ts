// `walflow recovery-end [pgdata] [--forget FILE]`: the recovery_end_command a restore writes.
// PostgreSQL runs it once, when archive recovery has ended (at promotion), in its data folder; it
// comments out the restore's recovery settings so that this cluster's own backups do not carry
// them, and removes the restore's fetch.env: its store credentials have no use left (a crash
// before this point restarts recovery, which still finds them).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../lib/errors';
import { disableRestoreSettings, forgetRestoreEnv } from '../lib/recoveryconf';

export async function recoveryEnd(pgdata = process.cwd(), forget?: string): Promise<void> {
  if (!fs.existsSync(path.join(pgdata, 'PG_VERSION'))) {
    throw new UserError(
      `${pgdata} is not a PostgreSQL data folder; recovery_end_command must be 'walflow recovery-end', run by PostgreSQL in its data folder`,
    );
  }
  const disabled = await disableRestoreSettings(pgdata);
  if (forget) await forgetRestoreEnv(forget);
  process.stderr.write(
    `walflow recovery-end: ${disabled.length ? `disabled ${disabled.join(', ')}` : 'no recovery settings left to disable'}\n`,
  );
}
