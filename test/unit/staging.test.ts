// Staging reads each spool file into a buffer it keeps for the next file: every staged copy
// must still be its own file's bytes, whatever was read before it and however many run at once.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { spoolActivities } from '../../activities/spool';
import { codecByName } from '../../lib/codec';
import { loadConfig } from '../../lib/config';
import { SpoolPaths } from '../../lib/spool';
import { MINIMAL_SETTINGS } from '../support/settings';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'walflow-staging-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const config = loadConfig({ ...MINIMAL_SETTINGS, WALFLOW_SPOOL_DIR: dir });
const spool = new SpoolPaths(dir, config.cluster);
const activities = spoolActivities(config);
fs.mkdirSync(spool.walDir, { recursive: true });

/** Backup label files: staged like segments (compressed) without needing WAL inside. */
function spoolFile(i: number, size: number): { name: string; raw: Buffer } {
  const name = `0000000100000000000000${String(i).padStart(2, '0')}.00000028.backup`;
  const raw = Buffer.concat([Buffer.from(`file ${i}\n`), randomBytes(size)]);
  fs.writeFileSync(spool.wal(name), raw);
  return { name, raw };
}

async function expectStaged(file: { name: string; raw: Buffer }): Promise<void> {
  const staged = await activities.stageSegment({ cluster: config.cluster, name: file.name });
  assert.ok(staged, `${file.name} staged`);
  assert.equal(staged.rawSize, file.raw.length, `${file.name} raw size`);
  assert.equal(staged.sha256, createHash('sha256').update(file.raw).digest('hex'), `${file.name} sha256`);
  const codec = codecByName(staged.codec);
  const stored = fs.readFileSync(spool.staged(file.name, codec.suffix));
  assert.equal(stored.length, staged.storedSize);
  assert.ok((await codec.decompress(stored)).equals(file.raw), `${file.name} staged copy holds its own bytes`);
}

test('staging: a smaller file after a larger one, and many at once, each staged as its own bytes', async () => {
  await expectStaged(spoolFile(1, 3 << 20));
  await expectStaged(spoolFile(2, 1000));
  await expectStaged(spoolFile(3, 5 << 20));
  const many = Array.from({ length: 12 }, (_, i) => spoolFile(10 + i, (i % 4) * (1 << 19) + 17));
  await Promise.all(many.map(expectStaged));
});

test('staging: a file already gone is null', async () => {
  assert.equal(
    await activities.stageSegment({ cluster: config.cluster, name: '000000010000000000000099.00000028.backup' }),
    null,
  );
});
