// Resumable unpacking: a tar stream in arbitrary chunks, cut at member headers, killed in the
// middle and resumed from the last resume point, unpacks to exactly what was packed.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TarScanner } from '../../lib/tarscan';
import { ResumableUntar } from '../../lib/untar';

let root: string;
let tar: Buffer;
/** The stream in uneven chunks, as a backup cuts it: boundaries fall anywhere. */
let chunks: Buffer[];

function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) {
        out[r + '/'] = 'dir';
        walk(r);
      } else
        out[r] = createHash('sha256')
          .update(fs.readFileSync(path.join(dir, r)))
          .digest('hex');
    }
  };
  walk('');
  return out;
}

before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'untar-'));
  const src = path.join(root, 'src');
  fs.mkdirSync(path.join(src, 'base', '1'), { recursive: true });
  fs.mkdirSync(path.join(src, 'global'));
  fs.writeFileSync(path.join(src, 'PG_VERSION'), '15\n');
  for (let i = 0; i < 40; i++) {
    // Sizes from empty to several chunks long, with content that differs per file and offset.
    const size = [0, 1, 511, 512, 513, 70_000, 300_000, 20_000][i % 8];
    const b = Buffer.alloc(size);
    for (let j = 0; j < size; j++) b[j] = (j * 31 + i * 7) & 0xff;
    fs.writeFileSync(path.join(src, i % 2 ? 'base/1' : 'global', `f${i}`), b);
  }
  tar = execFileSync('tar', ['-c', '-f', '-', '-C', src, '.'], { maxBuffer: 64 << 20 });
  chunks = [];
  for (let off = 0, step = 100_003; off < tar.length; off += step, step = ((step * 5) % 150_000) + 30_000)
    chunks.push(tar.subarray(off, off + step));
});

after(() => fs.rmSync(root, { recursive: true, force: true }));

describe('tar scanner member starts', () => {
  test('the newest member header offset, counted from where the scanner started', () => {
    const scanner = new TarScanner(new Set());
    const starts: number[] = [];
    for (const c of chunks) {
      scanner.feed(c);
      if (scanner.lastMemberStart !== undefined && scanner.lastMemberStart !== starts[starts.length - 1])
        starts.push(scanner.lastMemberStart);
    }
    assert.ok(starts.length >= 3);
    for (const s of starts) assert.equal(tar.subarray(s + 257, s + 262).toString(), 'ustar', `a header at ${s}`);
    const late = new TarScanner(new Set(), 0, starts[1]);
    late.feed(tar.subarray(starts[1]));
    assert.equal(late.lastMemberStart! >= starts[starts.length - 1], true);
  });
});

describe('resumable untar', () => {
  test('unpacks a stream in arbitrary chunks into the same tree', async () => {
    const out = path.join(root, 'whole');
    fs.mkdirSync(out);
    const untar = new ResumableUntar(out);
    const cuts: number[] = [];
    for (const c of chunks) {
      const cut = await untar.write(c);
      if (cut !== undefined) cuts.push(cut);
    }
    await untar.end();
    assert.ok(cuts.length >= 2, `cut at member headers: ${cuts.join(', ')}`);
    assert.deepEqual(tree(out), tree(path.join(root, 'src')));
  });

  test('killed after a resume point and part of what follows, then resumed there: the same tree', async () => {
    const out = path.join(root, 'resumed');
    fs.mkdirSync(out);
    const first = new ResumableUntar(out);
    let point: { chunk: number; offset: number } | undefined;
    try {
      for (let i = 0, at = 0; i < chunks.length - 2; at += chunks[i].length, i++) {
        const cut = await first.write(chunks[i]);
        if (cut !== undefined) point = { chunk: i, offset: cut - at };
        if (point && point.chunk >= 2 && i > point.chunk) break;
      }
    } finally {
      first.kill(); // the running tar half-wrote members after the resume point
    }
    assert.ok(point && point.chunk >= 2, `a resume point past the first chunks: ${JSON.stringify(point)}`);
    const starts = chunks.reduce<number[]>((acc, c) => [...acc, acc[acc.length - 1] + c.length], [0]);
    const second = new ResumableUntar(out, starts[point.chunk] + point.offset);
    await second.write(chunks[point.chunk].subarray(point.offset));
    for (let j = point.chunk + 1; j < chunks.length; j++) await second.write(chunks[j]);
    await second.end();
    assert.deepEqual(tree(out), tree(path.join(root, 'src')));
  });

  test('a stream that is not a tar fails with what tar said', async () => {
    const out = path.join(root, 'bad');
    fs.mkdirSync(out);
    const untar = new ResumableUntar(out);
    await assert.rejects(async () => {
      await untar.write(Buffer.alloc(4096, 0x41));
      await untar.end();
    }, /tar -x into .* exited with 2/);
  });
});
