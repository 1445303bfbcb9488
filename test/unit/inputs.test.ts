// Input schemas, configuration quoting and secret redaction: pure parts of the boundary.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { temporal } from '@temporalio/proto';
import { spaceProblem } from '../../activities/drill';
import { createActivities } from '../../activities';
import { loadConfig } from '../../lib/config';
import { activityInputSchemas, parseInput, restoreInputSchema } from '../../lib/inputs';
import { createLogger } from '../../lib/log';
import { confString } from '../../lib/pgconf';
import { parse as parseConnectionString } from 'pg-connection-string';
import { conninfoUrl } from '../../lib/conninfo';
import { passwordToEnv, redact, redactUrl } from '../../lib/secrets';
import { recordedHistories } from '../replay/recorded';
import { MINIMAL_SETTINGS } from '../support/settings';

const refused = (raw: unknown) => {
  const r = parseInput(restoreInputSchema, raw, 'restore');
  return r.ok ? undefined : r.message;
};

test('restore inputs: wrong types, relative or hostile paths, unknown fields and two targets are refused', () => {
  assert.equal(refused({ pgdata: '/srv/restore', port: 5433, targetXid: 1234 }), undefined);
  assert.equal(refused({ planOnly: true }), undefined);
  assert.match(refused({ pgdata: '/x', port: '5433' })!, /^restore input refused: port: a port number$/);
  assert.match(refused({ pgdata: '/x', port: 70000 })!, /port/);
  assert.match(refused({ pgdata: 'relative/dir' })!, /pgdata: an absolute path/);
  assert.match(refused({ pgdata: '/x/a\\b' })!, /pgdata: no quotes, backslashes or control characters/);
  assert.match(refused({ pgdata: '/x', targetname: 'typo' })!, /Unrecognized key/);
  assert.match(refused({ pgdata: '/x', targetName: 'a', immediate: true })!, /at most one of/);
  assert.match(refused({ pgdata: '/x', targetName: 'a\tb' })!, /targetName: no control characters/);
  assert.match(refused({ pgdata: '/x', targetTime: 'yesterday' })!, /targetTime: a time/);
  assert.match(refused({ pgdata: '/x', targetLsn: '0/XYZ' })!, /targetLsn: an LSN/);
  assert.match(refused({})!, /pgdata: required/);
  assert.equal(
    (parseInput(restoreInputSchema, { planOnly: true, targetXid: 7 }, 'r') as { value: { targetXid: string } }).value
      .targetXid,
    '7',
  );
});

test('activity inputs: a recovery target with a newline is refused', () => {
  const base = { cluster: 'main', pgdata: '/d', workDir: '/w', prefetchDir: '/w/p', targetTimeline: 'latest' };
  const schema = activityInputSchemas.writeRecoverySettings;
  assert.ok(schema.safeParse({ ...base, target: { kind: 'name', value: "it's" } }).success);
  assert.equal(schema.safeParse({ ...base, target: { kind: 'name', value: 'a\nb' } }).success, false);
  assert.equal(schema.safeParse({ ...base, target: { kind: 'end' }, port: '1\n' }).success, false);
});

test('every activity has an input schema, and no schema names an activity that does not exist', () => {
  const config = loadConfig(MINIMAL_SETTINGS);
  const catalog = () => {
    throw new Error('no catalog in a unit test');
  };
  const names = Object.keys(createActivities({ config, stores: new Map(), catalog, log: createLogger('error') }));
  assert.ok(names.length > 40, `only ${names.length} activities`);
  assert.deepEqual(
    names.filter((n) => !(n in activityInputSchemas)),
    [],
    'give these activities a schema in lib/inputs.ts',
  );
  assert.deepEqual(
    Object.keys(activityInputSchemas).filter((n) => !names.includes(n)),
    [],
  );
});

test('every activity input in the recorded histories still parses: retried after an upgrade, it is not refused', () => {
  const failures: string[] = [];
  let checked = 0;
  for (const h of recordedHistories()) {
    for (const e of (h.history as temporal.api.history.v1.IHistory).events ?? []) {
      const a = e.activityTaskScheduledEventAttributes;
      if (!a) continue;
      const activity = a.activityType!.name!;
      const data = a.input?.payloads?.[0]?.data;
      const input: unknown = data ? JSON.parse(Buffer.from(data).toString('utf8')) : undefined;
      const r = parseInput(activityInputSchemas[activity], input, activity);
      checked++;
      if (!r.ok) failures.push(`${h.file}: ${r.message}`);
    }
  }
  assert.ok(checked > 40, `only ${checked} activity inputs in the histories`);
  assert.deepEqual(failures, []);
});

test('hostile activity inputs are refused: control characters, relative paths, steps out of a folder', () => {
  const refusal = (activity: string, raw: unknown) => {
    const r = parseInput(activityInputSchemas[activity], raw, activity);
    return r.ok ? undefined : r.message;
  };
  const segment = '000000010000000000000003';
  assert.equal(refusal('removeSpoolCopy', { cluster: 'main', name: segment }), undefined);
  assert.match(
    refusal('removeSpoolCopy', { cluster: 'main\nx', name: segment })!,
    /^removeSpoolCopy input refused: cluster: /,
  );
  assert.match(refusal('stageSegment', { cluster: 'main', name: `../../${segment}` })!, /name: a WAL file name/);
  assert.match(refusal('quarantineSpoolCopy', { cluster: 'main', name: `${segment}/../x` })!, /name: a WAL file name/);
  assert.match(refusal('listSpool', { cluster: 'main', limit: 10, after: '../' })!, /after/);
  assert.match(refusal('cleanupPrefetch', { prefetchDir: 'restores/x/prefetch' })!, /prefetchDir: an absolute path/);
  assert.match(refusal('drillCleanup', { scratch: '/tmp/d\nx', pgdata: '/tmp/d/data' })!, /scratch: no quotes/);
  assert.match(refusal('makeOwedCopies', { cluster: 'main', store: 'B2', limit: 10 })!, /store: lower-case/);
  assert.match(refusal('resolveAlert', { cluster: 'main', key: 'spool-age:\u0000' })!, /key: no control characters/);
  assert.match(refusal('streamBaseBackup', { cluster: 'main', backupId: '../x' })!, /backupId/);
  const staged = { name: segment, key: `main/wal/00000001/${segment}.zst`, codec: 'zstd', sha256: 'a'.repeat(64) };
  assert.equal(refusal('uploadToStore', { cluster: 'main', store: 'r2', staged }), undefined);
  assert.match(
    refusal('uploadToStore', {
      cluster: 'main',
      store: 'r2',
      staged: { ...staged, key: `main/wal/../../other/${segment}.zst` },
    })!,
    /staged.key: no \. or \.\./,
  );
  assert.match(
    refusal('uploadToStore', { cluster: 'main', store: 'r2', staged: { ...staged, key: `/main/wal/${segment}.zst` } })!,
    /staged.key: an object key/,
  );
  assert.match(refusal('restoreDefaults', { cluster: 'x' })!, /restoreDefaults input refused/);
});

test('configuration strings are written as PostgreSQL reads them; control characters are refused', () => {
  assert.equal(confString("it's"), "'it''s'");
  assert.equal(confString('a\\b'), "'a\\\\b'");
  assert.throws(() => confString("5433\nrestore_command = 'x'"), /control character/);
});

test('secrets: URL passwords and secret settings are hidden', () => {
  assert.equal(redactUrl('postgres://u:pw@h:5432/db'), 'postgres://u:***@h:5432/db');
  assert.equal(redactUrl('postgres://u@h/db'), 'postgres://u@h/db');
  const env = { WALFLOW_CATALOG_URL: 'postgres://u:s3cr3t-pw@h/db', WALFLOW_STORE_R2_SECRET_ACCESS_KEY: 'key-secret' };
  assert.equal(redact('failed: s3cr3t-pw and key-secret', env), 'failed: *** and ***');
});

test('key=value connection strings: read as libpq reads them, the password kept off the command line', () => {
  const keyValue = "host=127.0.0.1 port = 5433 user=backup password='p w\\'x' dbname=postgres sslmode=disable";
  const url = conninfoUrl(keyValue);
  assert.equal(url, "postgresql:///postgres?host=127.0.0.1&port=5433&user=backup&password=p%20w'x&sslmode=disable");
  const read = parseConnectionString(url);
  assert.deepEqual(
    [read.host, read.port, read.user, read.password, read.database],
    ['127.0.0.1', '5433', 'backup', "p w'x", 'postgres'],
  );
  const forArgv = passwordToEnv(keyValue);
  assert.equal(forArgv.conninfo, 'postgresql:///postgres?host=127.0.0.1&port=5433&user=backup&sslmode=disable');
  assert.equal(forArgv.env.PGPASSWORD, "p w'x");
  const inUrl = passwordToEnv('postgres://u:p%40ss@h:5432/db?application_name=a%20b&password=other');
  assert.equal(inUrl.conninfo, 'postgres://u@h:5432/db?application_name=a%20b');
  assert.equal(inUrl.env.PGPASSWORD, 'other');
  assert.equal(passwordToEnv('postgres://u@h/db').env.PGPASSWORD, undefined);
  assert.equal(conninfoUrl('postgres://u@h/db'), 'postgres://u@h/db');
  assert.throws(() => conninfoUrl('host=h secret'), /keyword 2 has no "="/);
  assert.throws(() => conninfoUrl("host=h password='open"), /password has no closing quote/);
  assert.equal(redactUrl("host=h password='s3 cret'"), "host='h' password=***");
  assert.equal(
    redactUrl('postgres://u@h/db?password=s3cret&sslmode=require'),
    'postgres://u@h/db?sslmode=require&password=***',
  );
  const env = {
    WALFLOW_PG_URL: "host=h password='kv s3cret'",
    WALFLOW_CATALOG_URL: 'postgres://u@h/db?password=q-s3cret',
    WALFLOW_ALERT_WEBHOOK_URL: 'https://hook:w3bhook-pw@alerts.example/in?token=t',
  };
  assert.equal(redact('kv s3cret, q-s3cret, w3bhook-pw', env), '***, ***, ***');
});

test('a drill host without the room is refused with what it needs and has', () => {
  assert.equal(spaceProblem(10, 11, '/tmp'), undefined);
  assert.match(
    spaceProblem(3 * 2 ** 30, 2 ** 30, '/scratch')!,
    /^the drill needs 3\.0 GiB in \/scratch, 1\.0 GiB free/,
  );
});
