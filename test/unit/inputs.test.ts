// Input schemas, configuration quoting and secret redaction: pure parts of the boundary.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spaceProblem } from '../../activities/drill';
import { activityInputSchemas, parseInput, restoreInputSchema } from '../../lib/inputs';
import { confString } from '../../lib/pgconf';
import { redact, redactUrl } from '../../lib/secrets';

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

test('a drill host without the room is refused with what it needs and has', () => {
  assert.equal(spaceProblem(10, 11, '/tmp'), undefined);
  assert.match(
    spaceProblem(3 * 2 ** 30, 2 ** 30, '/scratch')!,
    /^the drill needs 3\.0 GiB in \/scratch, 1\.0 GiB free/,
  );
});
