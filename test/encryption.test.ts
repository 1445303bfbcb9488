// Encryption at rest, on one cluster: what the stores hold says nothing without the key; a
// tampered copy is refused on read and repaired from the other store; a restore reads a backup
// and WAL sealed under two keys (rotated between them); a missing key stops a restore by name.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import type { BackupManifest, VerifyReport } from '../lib/contracts';
import { parseKeys, type KeyRing } from '../lib/crypto/keyring';
import { PgCluster } from '../lib/devstack/pgcluster';
import { chownToPostgres, freePort } from '../lib/devstack/procs';
import { readVerified } from '../lib/verified';
import type { TestEnv } from './support/env';
import { corruptInStore, pitrEnv, restoredCluster, runRestore, waitArchived } from './support/pitr';

const k1 = `k1:${randomBytes(32).toString('base64')}`;
const k2 = `k2:${randomBytes(32).toString('base64')}`;
const both: KeyRing = parseKeys('test', [k1, k2]);
/** A row that compression keeps as it is: found in any store that holds the WAL unencrypted. */
const MARKER = `walflow-marker-${randomBytes(12).toString('hex')}`;
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

let env: TestEnv;
let pg: PgCluster;
const restored: PgCluster[] = [];
let firstSegment = '';
let backup: BackupManifest;

const walKey = (segment: string) => `${env.config.cluster}/wal/${segment.slice(0, 8)}/${segment}.zst`;

/** The worker (and every command) now run with these keys. */
async function useKeys(keys: string): Promise<void> {
  const text = fs
    .readFileSync(env.envFile, 'utf8')
    .replace(/^WALFLOW_ENCRYPTION_KEYS=.*$/m, `WALFLOW_ENCRYPTION_KEYS=${keys}`);
  fs.writeFileSync(env.envFile, text);
  await env.stopWorker();
  await env.startWorker();
}

async function raw(store: string, key: string): Promise<Buffer> {
  return (await readVerified(env.stores.get(store)!, key, both))!.raw;
}

before(async () => {
  ({ env, pg } = await pitrEnv('encryption', { WALFLOW_ENCRYPTION_KEYS: k1 }));
  await pg.query('CREATE TABLE t (id serial PRIMARY KEY, note text NOT NULL)');
  await pg.query('INSERT INTO t (note) VALUES ($1)', [MARKER]);
  firstSegment = await pg.switchWal();
  await waitArchived(env, firstSegment);
  const r = env.walflow(['backup', '--wait']);
  assert.equal(r.status, 0, r.stderr);
  const list = JSON.parse(env.walflow(['backups', '--json']).stdout) as { backupId: string; status: string }[];
  const id = list.find((b) => b.status === 'complete')!.backupId;
  backup = JSON.parse(
    (await raw('r2', `${env.config.cluster}/backups/${id}/manifest.json`)).toString(),
  ) as BackupManifest;
});

after(async () => {
  for (const r of restored) await r.stop('immediate').catch(() => undefined);
  await pg?.stop('immediate');
  await env?.close();
});

test(
  'what the stores hold is not readable without the key; cluster.json stays plain',
  { timeout: 60_000 },
  async () => {
    assert.ok((await raw('r2', walKey(firstSegment))).includes(MARKER), 'the marker is in the WAL itself');
    const prefix = `${env.config.cluster}/backups/${backup.backupId}/`;
    const keys = [walKey(firstSegment), prefix + 'manifest.json', ...backup.files.map((f) => prefix + f.name)];
    for (const store of ['r2', 'b2'])
      for (const key of keys) {
        const s = env.stores.get(store)!;
        const body = await s.get(key);
        assert.ok(!body.subarray(0, 4).equals(ZSTD_MAGIC), `${store}:${key} starts like zstd`);
        assert.ok(!body.includes(MARKER) && !body.includes('"backupId"'), `${store}:${key} shows plaintext`);
        assert.equal((await s.head(key))!.meta!.keyId, 'k1', `${store}:${key} names its key`);
      }
    const identity = JSON.parse((await env.stores.get('r2')!.get(`${env.config.cluster}/cluster.json`)).toString()) as {
      cluster: string;
    };
    assert.equal(identity.cluster, env.config.cluster);
  },
);

test('a tampered copy is refused on read and repaired from the other store', { timeout: 180_000 }, async () => {
  const key = walKey(firstSegment);
  corruptInStore(env, 'r2', key);
  const dir = path.join(env.dir, 'fetched');
  fs.mkdirSync(dir, { recursive: true });
  chownToPostgres(dir);
  const fetched = env.walflow(['fetch', firstSegment, path.join(dir, firstSegment)]);
  assert.equal(fetched.status, 0, fetched.stderr);
  assert.match(fetched.stderr, /r2: .* fails authentication under key "k1".*read from b2 instead/);
  assert.ok(fs.readFileSync(path.join(dir, firstSegment)).includes(MARKER));

  const deep = env.walflow(['verify', '--json', '--deep']);
  assert.equal(deep.status, 0, deep.stderr);
  const report = JSON.parse(deep.stdout) as VerifyReport;
  assert.deepEqual(
    report.repaired.map((r) => [r.store, r.key]),
    [['r2', key]],
  );
  assert.deepEqual(await env.stores.get('r2')!.get(key), await env.stores.get('b2')!.get(key));
});

test('a restore reads a backup and WAL sealed under two keys', { timeout: 300_000 }, async () => {
  await useKeys(`${k1},${k2}`);
  await pg.query("INSERT INTO t (note) VALUES ('after rotation')");
  const rotated = await pg.switchWal();
  await waitArchived(env, rotated);
  assert.equal((await env.stores.get('r2')!.head(walKey(rotated)))!.meta!.keyId, 'k2');

  const port = await freePort();
  const data = path.join(env.dir, 'restored-both', 'data');
  const r = runRestore(env, ['--backup', backup.backupId, '--pgdata', data, '--start', '--port', String(port)]);
  const c = restoredCluster(env, data, port);
  restored.push(c);
  assert.equal(r.status, 0, `restore failed: ${r.stderr}\n${r.stdout}`);
  const notes = (await c.query<{ note: string }>('SELECT note FROM t ORDER BY id')).map((row) => row.note);
  assert.deepEqual(notes, [MARKER, 'after rotation']);
});

test('a key missing on the restoring host fails the restore, naming the key', { timeout: 180_000 }, async () => {
  await useKeys(k2);
  const data = path.join(env.dir, 'restored-missing', 'data');
  const r = runRestore(env, ['--backup', backup.backupId, '--pgdata', data]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr + r.stdout, /encrypted with key "k1", which is not among the keys configured here \(k2\)/);
});
