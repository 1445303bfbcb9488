// Formats a newer walflow may write: refused with a message to upgrade, never guessed at;
// documents written before formats were marked still read.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { parseClusterJson } from '../../lib/clusterjson';
import { parseManifest } from '../../lib/formats';
import { FsStore } from '../../lib/stores/fs';
import { metaFromHeaders, metaToHeaders } from '../../lib/stores/store';

const UPGRADE = /in format 2, but this walflow reads format 1 only: upgrade walflow/;
const json = (o: unknown) => Buffer.from(JSON.stringify(o));

describe('formats', () => {
  test('manifest.json: format 1 (full) and 2 (incremental, with its parent) read, anything else is refused', () => {
    assert.equal(parseManifest(json({ format: 1, backupId: 'b' }), 'b').backupId, 'b');
    assert.equal(parseManifest(json({ format: 2, backupId: 'b', parent: 'a' }), 'b').parent, 'a');
    assert.throws(
      () => parseManifest(json({ format: 3, backupId: 'b' }), 'b'),
      /^UnknownFormat: manifest.json of backup b is in format 3, but this walflow reads format 1 or 2 only: upgrade/,
    );
    assert.throws(() => parseManifest(json({ format: 2, backupId: 'b' }), 'b'), /only format 2, .* names a parent/);
    assert.throws(() => parseManifest(json({ format: 1, backupId: 'b', parent: 'a' }), 'b'), /names a parent/);
    assert.throws(() => parseManifest(json({ backupId: 'b' }), 'b'), /in format undefined/);
  });

  test('cluster.json: unmarked (older walflow) and format 1 read, format 2 is refused', () => {
    assert.equal(parseClusterJson(json({ segmentSize: 1 << 20 }), 'main').segmentSize, 1 << 20);
    assert.equal(parseClusterJson(json({ format: 1, segmentSize: 1 << 24 }), 'main').segmentSize, 1 << 24);
    assert.throws(() => parseClusterJson(json({ format: 2, segmentSize: 1 << 24 }), 'main'), UPGRADE);
  });

  test('S3 object metadata: written as format 1; unmarked reads; format 2 is refused', () => {
    const meta = { codec: 'zstd', rawSize: 3, sha256: 'ab' };
    const headers = metaToHeaders(meta);
    assert.equal(headers['walflow-format'], '1');
    assert.deepEqual(metaFromHeaders(headers, 'k'), meta);
    const { 'walflow-format': _, ...unmarked } = headers;
    assert.deepEqual(metaFromHeaders(unmarked, 'k'), meta);
    assert.throws(
      () => metaFromHeaders({ ...headers, 'walflow-format': '2' }, 'c/wal/x.zst'),
      /the walflow metadata of c\/wal\/x\.zst is in format 2/,
    );
  });

  test('folder store metadata: format 2 is refused by head', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'formats-'));
    try {
      const store = new FsStore('local', root);
      const meta = { codec: 'none', rawSize: 1, sha256: 'cd' };
      await store.putNew('a/b', Buffer.from('x'), meta);
      assert.deepEqual((await store.head('a/b'))!.meta, meta);
      const sidecar = path.join(root, 'a', 'b.meta.json');
      fs.writeFileSync(sidecar, JSON.stringify({ ...meta, format: 2 }));
      await assert.rejects(store.head('a/b'), UPGRADE);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
