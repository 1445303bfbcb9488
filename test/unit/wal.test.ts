// Pure functions: WAL file names, LSNs, segment headers, codecs, object keys, configuration.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, test } from 'node:test';
import { codecByName, parseCompression } from '../../lib/codec';
import { loadConfig } from '../../lib/config';
import { UserError } from '../../lib/errors';
import { walKey } from '../../lib/keys';
import { PAGE_MAGIC_TO_VERSION } from '../../lib/wal/format';
import { LONG_HEADER_SIZE, parseSegmentHeader } from '../../lib/wal/header';
import { formatLsn, parseLsn, segmentNumberOf, segmentStartLsn } from '../../lib/wal/lsn';
import { parseWalName, segmentName, startLsnOf } from '../../lib/wal/name';

const MiB = 1024 * 1024;

describe('WAL file names', () => {
  test('segment', () => {
    assert.deepEqual(parseWalName('000000010000000A000000FF', 16 * MiB), {
      name: '000000010000000A000000FF',
      kind: 'segment',
      timeline: 1,
      segno: 0xan * 0x100n + 0xffn,
    });
    assert.equal(parseWalName('0000000200000000000000A3')!.timeline, 2);
  });

  test('.partial, .history, .backup', () => {
    assert.deepEqual(parseWalName('000000010000000000000003.partial', 16 * MiB), {
      name: '000000010000000000000003.partial',
      kind: 'partial',
      timeline: 1,
      segno: 3n,
    });
    assert.deepEqual(parseWalName('0000000A.history'), { name: '0000000A.history', kind: 'history', timeline: 10 });
    assert.deepEqual(parseWalName('000000010000000000000002.00000028.backup', 16 * MiB), {
      name: '000000010000000000000002.00000028.backup',
      kind: 'backup',
      timeline: 1,
      segno: 2n,
    });
  });

  test('rejects what is not a WAL file name', () => {
    for (const bad of [
      '000000010000000a000000ff', // lower-case hex
      '0000000a.history',
      '00000001000000000000000', // 23 characters
      '0000000100000000000000001', // 25 characters
      '000000010000000000001000', // low part 0x1000: past the last segment of an xlog id at any size
      '0000000100000000FFFFFFFF',
      'pg_wal/000000010000000000000001', // path-like
      '../000000010000000000000001',
      '000000010000000000000001/',
      './0000000A.history',
      '000000010000000000000001.zst',
      '000000010000000000000001.partial.tmp',
      '000000010000000000000002.backup', // no start offset
      '000000010000000000000002.0000028.backup',
      '00000001.history.backup',
      'archive_status',
      '',
    ]) {
      assert.equal(parseWalName(bad), undefined, bad);
    }
  });

  test('without a segment size: any name valid for some size, and no segment number', () => {
    assert.deepEqual(parseWalName('000000010000000000000FFF'), {
      name: '000000010000000000000FFF',
      kind: 'segment',
      timeline: 1,
    });
    assert.equal(parseWalName('000000010000000000000FFF', 16 * MiB), undefined);
    assert.equal(parseWalName('000000010000000000000FFF', 1 * MiB)!.segno, 0xfffn);
    assert.equal(parseWalName('000000010000000100000000', 1 * MiB)!.segno, 0x1000n);
    assert.equal(parseWalName('000000010000000100000000', 64 * MiB)!.segno, 0x40n);
  });

  test('the low part limit follows the segment size', () => {
    assert.equal(parseWalName('000000010000000000000100', 16 * MiB), undefined);
    assert.equal(parseWalName('00000001000000000000003F', 64 * MiB)!.segno, 0x3fn);
    assert.equal(parseWalName('000000010000000000000040', 64 * MiB), undefined);
    assert.equal(parseWalName('000000010000000100000003', 1024 * MiB)!.segno, 4n + 3n);
    assert.equal(parseWalName('000000010000000100000004', 1024 * MiB), undefined);
  });

  test('segmentName round trip', () => {
    for (const size of [1 * MiB, 16 * MiB, 64 * MiB, 1024 * MiB]) {
      const perId = 0x100000000n / BigInt(size);
      for (const segno of [0n, 1n, perId - 1n, perId, perId + 1n, 0xffffffffn * perId + perId - 1n]) {
        for (const tli of [1, 2, 0x7fffffff]) {
          const name = segmentName(tli, segno, size);
          assert.match(name, /^[0-9A-F]{24}$/);
          assert.deepEqual(parseWalName(name, size), { name, kind: 'segment', timeline: tli, segno }, name);
        }
      }
    }
    assert.equal(segmentName(1, 0x1ffn, 16 * MiB), '00000001' + '00000001' + '000000FF');
    assert.equal(segmentName(3, 0x1234n * 0x100n + 0x56n, 16 * MiB), '000000030000123400000056');
    assert.equal(segmentName(1, 0x1000n, 1 * MiB), '000000010000000100000000');
    assert.equal(segmentName(1, 0x40n, 64 * MiB), '000000010000000100000000');
  });

  test('start LSN of a segment', () => {
    assert.equal(startLsnOf(parseWalName('000000010000000A000000FF', 16 * MiB)!, 16 * MiB), parseLsn('A/FF000000'));
    assert.equal(startLsnOf(parseWalName('000000010000000000000FFF', 1 * MiB)!, 1 * MiB), parseLsn('0/FFF00000'));
    assert.equal(startLsnOf(parseWalName('00000002.history')!, 16 * MiB), undefined);
  });
});

describe('LSNs', () => {
  test('parse and format', () => {
    assert.equal(parseLsn('0/16B3748'), 0x16b3748n);
    assert.equal(parseLsn('1/0'), 1n << 32n);
    assert.equal(parseLsn(' 2a/ff '), (0x2an << 32n) | 0xffn);
    assert.equal(formatLsn(0x16b3748n), '0/16B3748');
    assert.equal(formatLsn(0n), '0/0');
    for (const text of ['0/0', '0/16B3748', 'A/FF000000', '7FFFFFFF/FFFFFFFF', 'FFFFFFFF/FFFFFFFF', '1F/1']) {
      assert.equal(formatLsn(parseLsn(text)), text);
    }
  });

  test('rejects malformed LSNs', () => {
    for (const bad of ['', '0', '/0', '0/', '0/0/0', '123456789/0', '0/123456789', 'G/0', '-1/0', '0x1/0', '0:0']) {
      assert.throws(() => parseLsn(bad), /not an LSN/, bad);
    }
  });

  test('64-bit arithmetic beyond 2^53', () => {
    const max = parseLsn('FFFFFFFF/FFFFFFFF');
    assert.equal(max, 2n ** 64n - 1n);
    const big = parseLsn('200000/1'); // 2^53 + 1: a JS number cannot hold it
    assert.equal(big, 2n ** 53n + 1n);
    assert.notEqual(Number(big), Number(big - 1n) + 2); // what a number would get wrong
    assert.ok(parseLsn('200000/2') > big);
    assert.equal(formatLsn(big + 0xffffffffn), '200001/0');
    assert.equal(segmentNumberOf(max, 16 * MiB), 2n ** 64n / (16n * 2n ** 20n) - 1n);
    assert.equal(formatLsn(segmentStartLsn(segmentNumberOf(max, 16 * MiB), 16 * MiB)), 'FFFFFFFF/FF000000');
    assert.equal(segmentName(1, segmentNumberOf(max, 16 * MiB), 16 * MiB), '00000001FFFFFFFF000000FF');
    assert.equal(segmentNumberOf(parseLsn('A/FF123456'), 16 * MiB), 0xan * 0x100n + 0xffn);
    // String order is not LSN order.
    const stringOrderMisleads = (a: string, b: string) => a > b && parseLsn(a) < parseLsn(b);
    assert.ok(stringOrderMisleads('A/0', '10/0'));
    assert.ok(stringOrderMisleads('0/9', '0/10'));
  });
});

describe('segment header', () => {
  function header(
    o: {
      magic?: number;
      info?: number;
      tli?: number;
      addr?: bigint;
      sysid?: bigint;
      segSize?: number;
      blcksz?: number;
    } = {},
  ): Buffer {
    const b = Buffer.alloc(8192);
    b.writeUInt16LE(o.magic ?? 0xd116, 0);
    b.writeUInt16LE(o.info ?? 0x0002, 2);
    b.writeUInt32LE(o.tli ?? 1, 4);
    b.writeBigUInt64LE(o.addr ?? 0x3000000n, 8);
    b.writeUInt32LE(0, 16);
    b.writeBigUInt64LE(o.sysid ?? 7412345678901234567n, 24);
    b.writeUInt32LE(o.segSize ?? 16 * MiB, 32);
    b.writeUInt32LE(o.blcksz ?? 8192, 36);
    return b;
  }

  test('parses a long page header', () => {
    assert.equal(LONG_HEADER_SIZE, 40);
    assert.deepEqual(parseSegmentHeader(header({ tli: 3, addr: parseLsn('A/FF000000') })), {
      magic: 0xd116,
      pgVersion: 17,
      timeline: 3,
      pageAddress: parseLsn('A/FF000000'),
      systemIdentifier: '7412345678901234567',
      segmentSize: 16 * MiB,
      blockSize: 8192,
    });
    // A system identifier above 2^63 stays exact (a string from a u64, never a number).
    assert.equal(parseSegmentHeader(header({ sysid: 2n ** 64n - 1n }))!.systemIdentifier, '18446744073709551615');
    assert.equal(parseSegmentHeader(header({ magic: 0xd10d }))!.pgVersion, 14);
    assert.equal(parseSegmentHeader(header({ magic: 0x1234 }))!.pgVersion, undefined);
    assert.equal(parseSegmentHeader(header({ segSize: 1024 * MiB }))!.segmentSize, 1024 * MiB);
    assert.ok(parseSegmentHeader(header().subarray(0, LONG_HEADER_SIZE)));
  });

  test('page magic names the PostgreSQL major version that wrote the segment', () => {
    // Pinned to each release's XLOG_PAGE_MAGIC: a wrong entry misreads a segment's version.
    const magics: [number, number][] = [
      [0xd101, 12],
      [0xd106, 13],
      [0xd10d, 14],
      [0xd110, 15],
      [0xd113, 16],
      [0xd116, 17],
      [0xd118, 18],
    ];
    assert.deepEqual(
      Object.entries(PAGE_MAGIC_TO_VERSION).map(([magic, version]) => [Number(magic), version]),
      magics,
    );
    for (const [magic, version] of magics) assert.equal(parseSegmentHeader(header({ magic }))!.pgVersion, version);
    // PostgreSQL 11 (0xd098) is older than the table: its version stays unknown.
    assert.equal(parseSegmentHeader(header({ magic: 0xd098 }))!.pgVersion, undefined);
  });

  test('rejects what is not a first page', () => {
    assert.equal(parseSegmentHeader(header().subarray(0, LONG_HEADER_SIZE - 1)), undefined);
    assert.equal(parseSegmentHeader(Buffer.alloc(0)), undefined);
    assert.equal(parseSegmentHeader(header({ info: 0 })), undefined); // a short page header
    assert.equal(parseSegmentHeader(Buffer.alloc(8192)), undefined); // zeros
    for (const segSize of [0, 512 * 1024, 3 * MiB, 2048 * MiB, 16 * MiB + 1]) {
      assert.equal(parseSegmentHeader(header({ segSize })), undefined, String(segSize));
    }
  });
});

describe('codecs', () => {
  const raw = Buffer.concat([
    Buffer.alloc(64 * 1024),
    Buffer.from('walflow '.repeat(5000)),
    Buffer.from([0, 1, 2, 255]),
  ]);

  for (const spec of ['zstd', 'zstd:1', 'zstd:19', 'gzip', 'gzip:1', 'gzip:9', 'none']) {
    test(`${spec} round trip`, async () => {
      const c = parseCompression(spec);
      const stored = await c.compress(raw);
      if (c.name !== 'none') assert.ok(stored.length < raw.length / 4, `${spec} should compress`);
      assert.deepEqual(await c.decompress(stored), raw);
      // What reads an object is the codec named in its metadata, whatever level wrote it.
      assert.deepEqual(await codecByName(c.name).decompress(stored), raw);
      // Streams produce the same format.
      const chunks: Buffer[] = [];
      await pipeline(Readable.from([raw.subarray(0, 1000), raw.subarray(1000)]), c.compressStream(), async (src) => {
        for await (const ch of src) chunks.push(ch as Buffer);
      });
      assert.deepEqual(await c.decompress(Buffer.concat(chunks)), raw);
      const out: Buffer[] = [];
      await pipeline(Readable.from([stored]), c.decompressStream(), async (src) => {
        for await (const ch of src) out.push(ch as Buffer);
      });
      assert.deepEqual(Buffer.concat(out), raw);
    });
  }

  test('names, levels and suffixes', () => {
    assert.deepEqual(pick(parseCompression('zstd')), { name: 'zstd', level: 3, suffix: '.zst' });
    assert.deepEqual(pick(parseCompression('zstd:7')), { name: 'zstd', level: 7, suffix: '.zst' });
    assert.deepEqual(pick(parseCompression('gzip')), { name: 'gzip', level: 6, suffix: '.gz' });
    assert.deepEqual(pick(parseCompression('gzip:9')), { name: 'gzip', level: 9, suffix: '.gz' });
    assert.deepEqual(pick(parseCompression('none')), { name: 'none', level: undefined, suffix: '' });
  });

  test('an empty input round-trips', async () => {
    for (const spec of ['zstd', 'gzip', 'none']) {
      const c = parseCompression(spec);
      assert.deepEqual(await c.decompress(await c.compress(Buffer.alloc(0))), Buffer.alloc(0));
    }
  });

  test('bad specs name WALFLOW_COMPRESSION and say what is allowed', () => {
    for (const [spec, why] of [
      ['zstd:0', /1-19/],
      ['zstd:20', /1-19/],
      ['zstd:1.5', /1-19/],
      ['zstd:x', /1-19/],
      ['zstd:', /1-19/],
      ['gzip:0', /1-9/],
      ['gzip:10', /1-9/],
      ['gzip:fast', /1-9/],
      ['none:1', /no level/],
      ['lz4', /zstd, zstd:<level>, gzip:<level> or none/],
      ['ZSTD', /use zstd/],
      ['', /use zstd/],
      ['gz', /use zstd/],
      ['zstd:3:4', /WALFLOW_COMPRESSION/],
    ] as const) {
      assert.throws(
        () => parseCompression(spec),
        (e: Error) => {
          assert.match(e.message, /^WALFLOW_COMPRESSION="/, spec);
          assert.match(e.message, why, spec);
          return true;
        },
        spec,
      );
    }
  });

  test('codecByName refuses unknown metadata', () => {
    assert.throws(() => codecByName('lz4'), /unknown codec "lz4"/);
  });

  function pick(c: { name: string; level: number | undefined; suffix: string }) {
    return { name: c.name, level: c.level, suffix: c.suffix };
  }
});

describe('object keys', () => {
  test('segments per timeline with the codec suffix; history files plain', () => {
    assert.equal(
      walKey('main', parseWalName('000000020000000000000003')!, '.zst'),
      'main/wal/00000002/000000020000000000000003.zst',
    );
    assert.equal(
      walKey('main', parseWalName('000000020000000000000003.partial')!, '.gz'),
      'main/wal/00000002/000000020000000000000003.partial.gz',
    );
    assert.equal(walKey('main', parseWalName('00000002.history')!, '.zst'), 'main/wal/00000002.history');
  });
});

describe('configuration', () => {
  const base = {
    WALFLOW_CLUSTER: 'main',
    WALFLOW_SPOOL_DIR: '/var/spool/walflow',
    WALFLOW_CATALOG_URL: 'postgres://u@db/walflow',
    WALFLOW_STORES: 'local',
    WALFLOW_STORE_LOCAL_TYPE: 'fs',
    WALFLOW_STORE_LOCAL_PATH: '/srv/wal',
  };

  function configError(env: Record<string, string | undefined>): UserError {
    try {
      loadConfig(env);
    } catch (e) {
      assert.ok(e instanceof UserError, `expected a UserError (a one-line message, exit 1), got ${(e as Error).stack}`);
      assert.ok(!e.message.includes('\n'), e.message);
      return e;
    }
    assert.fail('loadConfig accepted a bad configuration');
  }

  test('a minimal configuration with defaults', () => {
    const c = loadConfig(base);
    assert.equal(c.cluster, 'main');
    assert.equal(c.temporalAddress, 'localhost:7233');
    assert.equal(c.temporalNamespace, 'default');
    assert.equal(c.compression, 'zstd');
    assert.deepEqual(c.policy.retention, { days: 30, minBackups: 1, storeDays: {} });
    assert.equal(c.archiveEveryMs, 5 * 60_000);
    assert.deepEqual(c.stores, [{ type: 'fs', name: 'local', path: '/srv/wal' }]);
  });

  test('S3 stores', () => {
    const c = loadConfig({
      ...base,
      WALFLOW_STORES: 'r2, b2-eu',
      WALFLOW_STORE_R2_TYPE: 's3',
      WALFLOW_STORE_R2_BUCKET: 'wal',
      WALFLOW_STORE_R2_ACCESS_KEY_ID: 'k',
      WALFLOW_STORE_R2_SECRET_ACCESS_KEY: 's',
      WALFLOW_STORE_R2_ENDPOINT: 'https://acct.r2.cloudflarestorage.com',
      WALFLOW_STORE_B2_EU_TYPE: 's3',
      WALFLOW_STORE_B2_EU_BUCKET: 'wal2',
      WALFLOW_STORE_B2_EU_REGION: 'eu-central-003',
      WALFLOW_STORE_B2_EU_ACCESS_KEY_ID: 'k2',
      WALFLOW_STORE_B2_EU_SECRET_ACCESS_KEY: 's2',
      WALFLOW_STORE_B2_EU_FORCE_PATH_STYLE: 'true',
      WALFLOW_STORE_B2_EU_RETENTION_DAYS: '40',
    });
    assert.deepEqual(
      c.stores.map((s) => s.name),
      ['r2', 'b2-eu'],
    );
    const [r2, b2] = c.stores;
    assert.ok(r2.type === 's3' && b2.type === 's3');
    assert.equal(r2.region, 'auto');
    assert.equal(r2.conditionalPut, true);
    assert.equal(b2.forcePathStyle, true);
    assert.deepEqual(c.policy.retention.storeDays, { 'b2-eu': 40 }, "a store's own retention is part of the policy");
  });

  test('missing WALFLOW_CLUSTER', () => {
    const { WALFLOW_CLUSTER: _, ...env } = base;
    assert.match(configError(env).message, /WALFLOW_CLUSTER/);
  });

  test('invalid WALFLOW_CLUSTER', () => {
    assert.match(configError({ ...base, WALFLOW_CLUSTER: 'Main/DB' }).message, /WALFLOW_CLUSTER: lower-case letters/);
  });

  test('missing WALFLOW_STORES, WALFLOW_SPOOL_DIR, WALFLOW_CATALOG_URL', () => {
    for (const name of ['WALFLOW_STORES', 'WALFLOW_SPOOL_DIR', 'WALFLOW_CATALOG_URL'] as const) {
      assert.match(configError({ ...base, [name]: undefined }).message, new RegExp(name), name);
    }
    assert.match(configError({ ...base, WALFLOW_STORES: ' , ' }).message, /WALFLOW_STORES/);
  });

  test('bad store type', () => {
    const m = configError({ ...base, WALFLOW_STORE_LOCAL_TYPE: 'gcs' }).message;
    assert.match(m, /store "local"/);
    assert.match(m, /WALFLOW_STORE_LOCAL_TYPE/);
    assert.match(m, /s3/);
    assert.match(m, /fs/);
  });

  test('store without a type', () => {
    const m = configError({ ...base, WALFLOW_STORES: 'local,r2' }).message;
    assert.match(m, /store "r2"/);
    assert.match(m, /WALFLOW_STORE_R2_TYPE/);
  });

  test('fs store without PATH', () => {
    const m = configError({ ...base, WALFLOW_STORE_LOCAL_PATH: '' }).message;
    assert.match(m, /store "local"/);
    assert.match(m, /WALFLOW_STORE_LOCAL_PATH/);
  });

  test('s3 store without credentials', () => {
    const m = configError({ ...base, WALFLOW_STORE_LOCAL_TYPE: 's3', WALFLOW_STORE_LOCAL_BUCKET: 'b' }).message;
    assert.match(m, /WALFLOW_STORE_LOCAL_ACCESS_KEY_ID/);
    assert.match(m, /WALFLOW_STORE_LOCAL_SECRET_ACCESS_KEY/);
  });

  test('s3 store CA file: kept when readable, named in the error when not', () => {
    const s3 = {
      ...base,
      WALFLOW_STORE_LOCAL_TYPE: 's3',
      WALFLOW_STORE_LOCAL_BUCKET: 'b',
      WALFLOW_STORE_LOCAL_ACCESS_KEY_ID: 'k',
      WALFLOW_STORE_LOCAL_SECRET_ACCESS_KEY: 's',
    };
    const [store] = loadConfig({ ...s3, WALFLOW_STORE_LOCAL_CA_FILE: __filename }).stores;
    assert.ok(store.type === 's3' && store.caFile === __filename);
    assert.match(
      configError({ ...s3, WALFLOW_STORE_LOCAL_CA_FILE: '/nonexistent/ca.pem' }).message,
      /WALFLOW_STORE_LOCAL_CA_FILE: cannot read "\/nonexistent\/ca.pem" \(ENOENT\)/,
    );
  });

  test('bad compression, duration and numbers', () => {
    assert.match(configError({ ...base, WALFLOW_COMPRESSION: 'zstd:99' }).message, /WALFLOW_COMPRESSION.*1-19/);
    assert.match(configError({ ...base, WALFLOW_COMPRESSION: 'brotli' }).message, /WALFLOW_COMPRESSION/);
    assert.match(
      configError({ ...base, WALFLOW_ARCHIVE_EVERY: 'often' }).message,
      /WALFLOW_ARCHIVE_EVERY.*not a duration/,
    );
    assert.match(configError({ ...base, WALFLOW_RETENTION_DAYS: '-1' }).message, /WALFLOW_RETENTION_DAYS/);
  });
});
