// Which PostgreSQL binaries a backup or restore uses: WALFLOW_PG_BINDIR, pg_config, the
// distributions' versioned folders, each only when its programs report the wanted major version.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { pgMajor, pgTool } from '../../lib/pgbin';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbin-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** A bin folder whose programs report a version as PostgreSQL's do; pg_config also tells its bindir. */
function binDir(name: string, version: string, tools = ['pg_ctl', 'pg_verifybackup']): string {
  const dir = path.join(root, name, 'bin');
  fs.mkdirSync(dir, { recursive: true });
  for (const t of tools)
    fs.writeFileSync(path.join(dir, t), `#!/bin/sh\necho "${t} (PostgreSQL) ${version}"\n`, { mode: 0o755 });
  fs.writeFileSync(
    path.join(dir, 'pg_config'),
    `#!/bin/sh\ncase "$1" in --bindir) echo ${dir} ;; *) echo "PostgreSQL ${version}" ;; esac\n`,
    { mode: 0o755 },
  );
  return dir;
}

const debian = (m: number) => path.join(root, 'debian', String(m), 'bin');
const rhel = (m: number) => path.join(root, `pgsql-${m}`, 'bin');
const layouts = [debian, rhel];
const noPath = { PATH: path.join(root, 'nothing') };

describe('PostgreSQL binaries by major version', () => {
  binDir('debian/15', '15.18 (Debian 15.18-0+deb12u1)');
  binDir('pgsql-16', '16.4');
  const custom14 = binDir('custom14', '14.13');
  const custom17 = binDir('custom17', '17.2');

  test('server_version_num and PG_VERSION text give the major version', () => {
    assert.equal(pgMajor(150018), 15);
    assert.equal(pgMajor(170002), 17);
    assert.equal(pgMajor('16\n'), 16);
  });

  test("the distributions' versioned folders, Debian's and RHEL's", () => {
    assert.equal(pgTool('pg_ctl', 15, noPath, layouts), path.join(debian(15), 'pg_ctl'));
    assert.equal(pgTool('pg_ctl', 16, noPath, layouts), path.join(rhel(16), 'pg_ctl'));
  });

  test('pg_config on PATH when it is the wanted version, and only then', () => {
    const env = { PATH: custom17 };
    assert.equal(pgTool('pg_verifybackup', 17, env, layouts), path.join(custom17, 'pg_verifybackup'));
    assert.equal(pgTool('pg_verifybackup', 15, env, layouts), path.join(debian(15), 'pg_verifybackup'));
  });

  test('WALFLOW_PG_BINDIR wins, holds several folders, and is never silently bypassed', () => {
    const env = { ...noPath, WALFLOW_PG_BINDIR: `${custom14}:${custom17}` };
    assert.equal(pgTool('pg_ctl', 17, env, layouts), path.join(custom17, 'pg_ctl'));
    assert.equal(pgTool('pg_ctl', 14, env, layouts), path.join(custom14, 'pg_ctl'));
    // 15 is installed in the Debian folder, but the operator said where to look.
    assert.throws(
      () => pgTool('pg_ctl', 15, env, layouts),
      /^PgBinariesMissing: PostgreSQL 15's pg_ctl is not in WALFLOW_PG_BINDIR \(.*custom14\/bin: PostgreSQL 14, .*custom17\/bin: PostgreSQL 17\); add PostgreSQL 15's bin folder to WALFLOW_PG_BINDIR$/,
    );
  });

  test('a missing major version is one line naming the version, what to install and what to set', () => {
    assert.throws(
      () => pgTool('pg_verifybackup', 13, noPath, layouts),
      (e: Error) => {
        assert.equal(e.message.split('\n').length, 1);
        assert.match(
          e.message,
          /^PostgreSQL 13 is not installed on this host \(no pg_verifybackup in .*debian\/13\/bin, .*pgsql-13\/bin\): install PostgreSQL 13 \(Debian: postgresql-13, RHEL: postgresql13-server\) or set WALFLOW_PG_BINDIR to its bin folder$/,
        );
        return true;
      },
    );
  });

  test('a folder named for one version but holding another is not used', () => {
    binDir('debian/12', '11.22');
    assert.throws(() => pgTool('pg_ctl', 12, noPath, layouts), /PostgreSQL 12 is not installed/);
  });
});
