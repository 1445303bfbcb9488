// What a newer walflow wrote is refused with a message to upgrade, never guessed at: a backup
// manifest in a newer format, and object metadata in a newer format.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { zstdCompressSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { PgCluster } from '../lib/devstack/pgcluster';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { chownToPostgres } from '../lib/devstack/procs';
import type { BackupManifest } from '../lib/contracts';
import { TestEnv } from './support/env';
import { pitrEnv, runRestore, takeBackup } from './support/pitr';

let env: TestEnv;
let pg: PgCluster;
let backup: BackupManifest;

before(async () => {
  ({ env, pg } = await pitrEnv('formats'));
  await pg.query('CREATE TABLE t AS SELECT generate_series(1, 100) AS id');
  backup = await takeBackup(env);
});

after(async () => {
  await pg?.stop('immediate');
  await env?.close();
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test(
  'a backup manifest in a newer format fails the restore with a message to upgrade walflow',
  { timeout: 180_000 },
  async () => {
    const id = '29990101T000000Z'; // the newest backup: the one a restore picks
    const manifest = { ...backup, backupId: id, format: 3, encryption: 'something this walflow cannot read' };
    const body = Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
    for (const store of env.stores.values()) {
      await store.putNew(`formats/backups/${id}/manifest.json`, body, {
        codec: 'none',
        rawSize: body.length,
        sha256: sha256(body),
      });
    }
    for (const args of [[], ['--backup', id]]) {
      const data = path.join(env.dir, `restored${args.length}`, 'data');
      const r = runRestore(env, [...args, '--immediate', '--pgdata', data]);
      assert.notEqual(r.status, 0, `restored a format 3 backup: ${r.stdout}`);
      assert.match(
        r.stderr,
        new RegExp(
          `restore failed: manifest.json of backup ${id} is in format 3, but this walflow reads format 1 or 2 only: upgrade walflow`,
        ),
      );
      assert.deepEqual(fs.readdirSync(data), [], 'nothing downloaded');
    }
  },
);

test('object metadata in a newer format is refused, not read as if it were known', { timeout: 60_000 }, async () => {
  const name = '0000000100000000000000F0';
  const raw = Buffer.alloc(16 << 20, 1);
  const stored = zstdCompressSync(raw);
  // As a newer walflow would write it: a metadata format this one does not know.
  const metadata = {
    'walflow-format': '2',
    'walflow-codec': 'zstd',
    'walflow-raw-size': String(raw.length),
    'walflow-sha256': sha256(raw),
  };
  for (const c of env.config.stores) {
    if (c.type !== 's3') continue;
    const s3 = new S3Client({
      region: c.region,
      endpoint: c.endpoint,
      forcePathStyle: c.forcePathStyle,
      credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    try {
      await s3.send(
        new PutObjectCommand({
          Bucket: c.bucket,
          Key: `${c.prefix}/formats/wal/00000001/${name}.zst`,
          Body: stored,
          Metadata: metadata,
        }),
      );
    } finally {
      s3.destroy();
    }
  }
  const dir = path.join(env.dir, 'fetched');
  fs.mkdirSync(dir, { recursive: true });
  chownToPostgres(dir);
  const r = env.walflow(['fetch', name, path.join(dir, name)]);
  assert.notEqual(r.status, 0);
  assert.match(
    r.stderr,
    /metadata of formats\/wal\/00000001\/0000000100000000000000F0\.zst is in format 2, but this walflow reads format 1 only: upgrade walflow/,
  );
  assert.equal(fs.existsSync(path.join(dir, name)), false, 'nothing written for PostgreSQL to replay');
});
