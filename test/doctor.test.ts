// `walflow doctor` on a real host: every check passes on a healthy set-up, and each fails on the
// misconfiguration it exists for. Misconfigurations are made for real (a PostgreSQL with
// archive_mode off, an env file postgres cannot read, a missing bucket, a closed port, a host no
// worker serves, an empty catalog database); only the store that overwrites is a stand-in, since
// the stack's S3 servers honour If-None-Match.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { parseEnv } from 'node:util';
import type { Check } from '../cli/commands/doctor';
import type { PgCluster } from '../lib/devstack/pgcluster';
import { chownToPostgres, freePort, postgresUser, ROOT } from '../lib/devstack/procs';
import { catalogQuery } from './support/catalog';
import { bareEnv, type TestEnv } from './support/env';
import { pitrEnv, takeBackup } from './support/pitr';

let env: TestEnv;
let pg: PgCluster;
let variants = 0;

before(async () => {
  ({ env, pg } = await pitrEnv('doctor'));
});

after(async () => {
  await pg?.stop('immediate');
  await env?.close();
});

/** Runs walflow as postgres without blocking this process (which may be serving a store). */
function walflowAsync(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const child = spawn(path.join(ROOT, 'bin', 'walflow'), args, {
    cwd: '/',
    env: bareEnv(),
    ...(postgresUser() ?? {}),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr })));
}

/** `walflow doctor --json` as postgres, with these settings changed; the checks by name. */
async function doctor(changes: Record<string, string> = {}): Promise<{ status: number; checks: Map<string, Check> }> {
  const settings = { ...parseEnv(fs.readFileSync(env.envFile, 'utf8')), ...changes };
  const file = path.join(env.dir, `doctor-${++variants}.env`);
  fs.writeFileSync(
    file,
    Object.entries(settings)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n') + '\n',
    { mode: 0o644 },
  );
  const r = await walflowAsync(['doctor', '--json', '--env-file', file]);
  assert.ok(r.stdout, `doctor printed nothing (exit ${r.status}): ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { ok: boolean; checks: Check[] };
  assert.equal(out.ok, r.status === 0, 'exit status and "ok" agree');
  return { status: r.status, checks: new Map(out.checks.map((c) => [c.check, c])) };
}

function expectStatus(checks: Map<string, Check>, name: string, status: Check['status'], found?: RegExp): Check {
  const c = checks.get(name);
  assert.ok(c, `no ${name} check in ${JSON.stringify([...checks.keys()])}`);
  assert.equal(c.status, status, `${name}: ${JSON.stringify(c)}`);
  if (found) assert.match(c.found, found);
  if (status !== 'ok') assert.ok(c.fix, `${name} says what to do`);
  return c;
}

const ALL = [
  'wal_level',
  'archive_mode',
  'archive_command',
  'archive_timeout',
  'spool',
  'store r2',
  'store b2',
  'temporal',
  'worker',
  'catalog',
  'backups',
  'schedules',
];

test(
  'a fresh host: no backup, no Schedules and archive_timeout off are named; the rest passes',
  { timeout: 120_000 },
  async () => {
    const { status, checks } = await doctor();
    assert.equal(status, 1);
    expectStatus(checks, 'backups', 'fail', /no complete base backup/);
    expectStatus(checks, 'schedules', 'fail', /missing: .*retention\/doctor/);
    expectStatus(checks, 'archive_timeout', 'warn', /^off/);
    for (const name of ALL.filter((n) => !['backups', 'schedules', 'archive_timeout'].includes(n)))
      expectStatus(checks, name, 'ok');
  },
);

test('a healthy host passes every check, and the store probes leave nothing behind', { timeout: 300_000 }, async () => {
  await pg.query("ALTER SYSTEM SET archive_timeout = '60s'");
  await pg.query('SELECT pg_reload_conf()');
  const applied = env.walflow(['schedules', 'apply']);
  assert.equal(applied.status, 0, applied.stderr);
  await takeBackup(env);
  const { status, checks } = await doctor();
  for (const name of ALL) expectStatus(checks, name, 'ok');
  assert.equal(status, 0);
  assert.match(checks.get('store b2')!.found, /If-None-Match honoured/);
  for (const store of env.stores.values()) {
    const left: string[] = [];
    for await (const o of store.list('doctor/doctor/')) left.push(o.key);
    assert.deepEqual(left, [], `${store.name} keeps no probe object`);
  }
  const text = env.walflow(['doctor']);
  assert.equal(text.status, 0, text.stdout + text.stderr);
  assert.match(text.stdout, /^ok {4}archive_mode +on$/m);
  assert.match(text.stdout, /^every check passed$/m);
});

test(
  'PostgreSQL: archive_mode off, archive_command elsewhere, an env file postgres cannot read',
  { timeout: 180_000 },
  async () => {
    const scratch = await env.createCluster(['archive_mode = off', "archive_timeout = '60s'"], 'scratch');
    try {
      const at = { WALFLOW_PG_URL: scratch.url };
      expectStatus((await doctor(at)).checks, 'archive_mode', 'fail', /^off$/);

      await scratch.query("ALTER SYSTEM SET archive_command = '/usr/bin/pgbackrest --stanza=main archive-push %p'");
      await scratch.query('SELECT pg_reload_conf()');
      const elsewhere = expectStatus((await doctor(at)).checks, 'archive_command', 'fail', /does not run walflow/);
      assert.match(elsewhere.fix!, /push %p %f --env-file/);

      const secret = path.join(env.dir, 'root-only.env');
      fs.copyFileSync(env.envFile, secret);
      fs.chmodSync(secret, 0o600); // owned by root, who runs the tests
      await scratch.query(
        `ALTER SYSTEM SET archive_command = '${path.join(ROOT, 'bin', 'walflow')} push %p %f --env-file ${secret}'`,
      );
      await scratch.query('SELECT pg_reload_conf()');
      const unreadable = expectStatus(
        (await doctor(at)).checks,
        'archive_command',
        'fail',
        /postgres cannot read the env file/,
      );
      assert.match(unreadable.fix!, /chmod 640/);

      const other = path.join(env.dir, 'other-spool.env');
      fs.writeFileSync(
        other,
        fs
          .readFileSync(env.envFile, 'utf8')
          .replace(/^WALFLOW_SPOOL_DIR=.*$/m, 'WALFLOW_SPOOL_DIR=/var/spool/elsewhere'),
        { mode: 0o644 },
      );
      await scratch.query(
        `ALTER SYSTEM SET archive_command = '${path.join(ROOT, 'bin', 'walflow')} push %p %f --env-file ${other}'`,
      );
      await scratch.query('SELECT pg_reload_conf()');
      expectStatus((await doctor(at)).checks, 'archive_command', 'fail', /WALFLOW_SPOOL_DIR=\/var\/spool\/elsewhere/);

      expectStatus(
        (await doctor({ WALFLOW_PG_URL: `postgres://postgres@127.0.0.1:${await freePort()}/postgres` })).checks,
        'postgres',
        'fail',
        /cannot connect/,
      );
    } finally {
      await scratch.stop('immediate');
    }
  },
);

test('spool: missing, or not writable by postgres', { timeout: 60_000 }, async () => {
  expectStatus(
    (await doctor({ WALFLOW_SPOOL_DIR: path.join(env.dir, 'no-such-spool') })).checks,
    'spool',
    'fail',
    /does not exist/,
  );
  const rootOwned = path.join(env.dir, 'root-spool');
  fs.mkdirSync(rootOwned, { mode: 0o755 });
  expectStatus((await doctor({ WALFLOW_SPOOL_DIR: rootOwned })).checks, 'spool', 'fail', /postgres cannot write/);
  chownToPostgres(rootOwned);
  expectStatus((await doctor({ WALFLOW_SPOOL_DIR: rootOwned })).checks, 'spool', 'ok');
});

/** An S3 endpoint that ignores If-None-Match and replaces objects: the fault doctor must catch. */
async function overwritingS3(): Promise<{ url: string; close: () => void }> {
  const objects = new Map<string, { body: Buffer; meta: Record<string, string> }>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const key = req.url!.split('?')[0];
      const o = objects.get(key);
      if (req.method === 'PUT') {
        const meta = Object.fromEntries(
          Object.entries(req.headers).filter(([k]) => k.startsWith('x-amz-meta-')),
        ) as Record<string, string>;
        objects.set(key, { body: Buffer.concat(chunks), meta });
        res.writeHead(200, { ETag: '"0"' }).end();
      } else if (req.method === 'GET' || req.method === 'HEAD') {
        if (!o) {
          res.writeHead(404).end();
          return;
        }
        res
          .writeHead(200, { 'Content-Length': o.body.length, ETag: '"0"', ...o.meta })
          .end(req.method === 'GET' ? o.body : undefined);
      } else if (req.method === 'DELETE') {
        objects.delete(key);
        res.writeHead(204).end();
      } else {
        res.writeHead(501).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

test(
  'stores: a missing bucket, a closed port, refused credentials, a store that overwrites',
  { timeout: 120_000 },
  async () => {
    expectStatus(
      (await doctor({ WALFLOW_STORE_B2_BUCKET: 'no-such-bucket' })).checks,
      'store b2',
      'fail',
      /bucket no-such-bucket does not exist/,
    );
    const closed = await freePort();
    const unreachable = await doctor({ WALFLOW_STORE_R2_ENDPOINT: `http://127.0.0.1:${closed}` });
    expectStatus(unreachable.checks, 'store r2', 'fail', /unreachable/);
    expectStatus(unreachable.checks, 'store b2', 'ok');
    assert.equal(unreachable.status, 1);
    expectStatus(
      (await doctor({ WALFLOW_STORE_R2_SECRET_ACCESS_KEY: 'wrong' })).checks,
      'store r2',
      'fail',
      /credentials refused/,
    );
    const fake = await overwritingS3();
    try {
      const c = expectStatus(
        (await doctor({ WALFLOW_STORE_B2_ENDPOINT: fake.url })).checks,
        'store b2',
        'fail',
        /overwrote an existing object/,
      );
      assert.match(c.fix!, /WALFLOW_STORE_B2_CONDITIONAL_PUT=false/);
    } finally {
      fake.close();
    }
  },
);

test("Temporal unreachable; no worker polling this host's queue", { timeout: 120_000 }, async () => {
  const down = await doctor({ TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` });
  expectStatus(down.checks, 'temporal', 'fail');
  expectStatus(down.checks, 'worker', 'warn', /not checked/);
  const idle = await doctor({ WALFLOW_HOST_ID: 'nobody-here' });
  expectStatus(idle.checks, 'temporal', 'ok');
  expectStatus(idle.checks, 'worker', 'fail', /no worker polls walflow-cluster-doctor\/host-nobody-here/);
});

test("a catalog database without walflow's tables is not migrated", { timeout: 60_000 }, async () => {
  await catalogQuery(env.config.catalogUrl, 'CREATE DATABASE doctor_empty');
  const { checks } = await doctor({
    WALFLOW_CATALOG_URL: env.config.catalogUrl.replace(/\/postgres$/, '/doctor_empty'),
  });
  expectStatus(checks, 'catalog', 'fail', /not migrated: 0000_init/);
  expectStatus(checks, 'backups', 'warn', /not checked/);
});
