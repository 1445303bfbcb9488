// Tar headers as GNU tar writes them for members of 8 GiB and more (a relation segment of a
// cluster built with a large segment size): the size field in base-256 instead of octal.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TarScanner } from '../../lib/tarscan';

function header(name: string, size: Buffer | number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  if (typeof size === 'number') h.write(size.toString(8).padStart(11, '0'), 124);
  else size.copy(h, 124);
  h.write('ustar', 257);
  return h;
}

/** The 12-byte base-256 size field: a leading 0x80 marker, then the size big-endian. */
function base256(size: bigint): Buffer {
  const field = Buffer.alloc(12);
  field[0] = 0x80;
  for (let i = 11, v = size; i > 0; i--, v >>= 8n) field[i] = Number(v & 0xffn);
  return field;
}

test('a base-256 size is skipped as data, and the member after it is found', () => {
  const label = Buffer.from('START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n');
  const stream = Buffer.concat([
    header('base/1/16384', base256(1024n)),
    Buffer.alloc(1024, 0xab),
    header('backup_label', label.length),
    label,
    Buffer.alloc(512 - label.length),
    Buffer.alloc(1024),
  ]);
  const scanner = new TarScanner(new Set(['backup_label']));
  for (let at = 0; at < stream.length; at += 700) scanner.feed(stream.subarray(at, at + 700));
  assert.equal(scanner.lastMemberStart, 512 + 1024);
  assert.deepEqual(scanner.captured.get('backup_label'), label);
});

test('a member of 9 GiB: nothing after its header counts as a header until its data has passed', () => {
  const scanner = new TarScanner(new Set(['backup_label']));
  scanner.feed(header('base/1/16385', base256(9n << 30n)));
  scanner.feed(header('backup_label', 10)); // data of the big member, however much it looks like a header
  assert.equal(scanner.lastMemberStart, 0);
  assert.equal(scanner.captured.size, 0);
});
