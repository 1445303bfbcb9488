// A WALFLOW_PG_URL in libpq's key=value form, for a role that must give its password: base
// backups, status and doctor work with it, and the password never shows on any process's
// command line (where `ps` shows it to every user of the host) nor in any command's output.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from 'pg';
import { PgCluster } from '../lib/devstack/pgcluster';
import { ROOT, sleep } from '../lib/devstack/procs';
import { bareEnv, TestEnv } from './support/env';
import { pitrEnv } from './support/pitr';

const ROLE = 'walflow_backup';
/** A space and a quote: the key=value form has to quote and escape it. */
const PASSWORD = "conninfo pw'9e41";

let env: TestEnv;
let pg: PgCluster;

before(async () => {
  ({ env, pg } = await pitrEnv('pg-conninfo', (port) => ({
    WALFLOW_PG_URL: `host=127.0.0.1 port=${port} user=${ROLE} password='${PASSWORD.replace(/'/g, "\\'")}' dbname=postgres`,
  })));
  await pg.query(`CREATE ROLE ${ROLE} LOGIN REPLICATION PASSWORD '${PASSWORD.replace(/'/g, "''")}'`);
  await pg.query(`GRANT EXECUTE ON FUNCTION pg_control_system() TO ${ROLE}`);
  await pg.query(`GRANT pg_monitor TO ${ROLE}`);
  // First match wins: this role must give its password, on both kinds of connection.
  const hba = path.join(pg.data, 'pg_hba.conf');
  fs.writeFileSync(hba, `host all,replication ${ROLE} 127.0.0.1/32 scram-sha-256\n` + fs.readFileSync(hba, 'utf8'));
  await pg.query('SELECT pg_reload_conf()');
});

after(async () => {
  await pg?.stop('immediate').catch(() => undefined);
  await env?.close();
});

/** Every process's command line, as `ps` shows it to anyone on the host. */
function commandLines(): string[] {
  const lines: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      lines.push(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '));
    } catch {
      /* gone meanwhile */
    }
  }
  return lines;
}

test('the role needs its password', async () => {
  const c = new Client({ host: '127.0.0.1', port: pg.port, user: ROLE, database: 'postgres' });
  await assert.rejects(c.connect(), /password/);
  await c.end().catch(() => undefined);
});

test(
  'a backup through a key=value connection string keeps the password off every command line',
  { timeout: 240_000 },
  async () => {
    const backup = spawn(path.join(ROOT, 'bin', 'walflow'), ['backup', '--wait', '--env-file', env.envFile], {
      cwd: '/',
      env: bareEnv(),
    });
    let output = '';
    backup.stdout.on('data', (d: Buffer) => (output += d.toString()));
    backup.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => backup.on('close', resolve));
    let running = true;
    void exited.then(() => (running = false));
    let basebackups = 0;
    const exposed = new Set<string>();
    while (running) {
      for (const line of commandLines()) {
        if (!line.includes('pg_basebackup')) continue;
        basebackups++;
        if (line.includes(PASSWORD)) exposed.add(line);
      }
      await sleep(5);
    }
    assert.equal(await exited, 0, `walflow backup failed: ${output}`);
    assert.deepEqual([...exposed], [], 'the password shows on a command line');
    assert.ok(basebackups > 0, 'pg_basebackup never seen running: the sampling proved nothing');
    const backups = JSON.parse(env.walflow(['backups', '--json']).stdout) as { status: string }[];
    assert.deepEqual(
      backups.map((b) => b.status),
      ['complete'],
    );
    assert.doesNotMatch(output, /9e41/);
  },
);

test('status and doctor read PostgreSQL through it and show no password', () => {
  const status = env.walflow(['status', '--json']);
  assert.equal(status.status, 0, status.stderr);
  const postgres = (JSON.parse(status.stdout) as { postgres: { archived_count?: string; error?: string } }).postgres;
  assert.equal(postgres.error, undefined);
  assert.ok(Number(postgres.archived_count) > 0, JSON.stringify(postgres));
  const doctor = env.walflow(['doctor']);
  for (const r of [status, doctor]) assert.doesNotMatch(r.stdout + r.stderr, /9e41/);
  assert.doesNotMatch(doctor.stdout + doctor.stderr, /cannot connect with WALFLOW_PG_URL/);
});
