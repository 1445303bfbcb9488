// Codec table: a codec name maps to an object-name suffix and (de)compressors.
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { PassThrough, type Transform } from 'node:stream';

export type CodecName = 'zstd' | 'gzip' | 'none';

export interface Codec {
  name: CodecName;
  level: number | undefined;
  suffix: string;
  compress(raw: Buffer): Promise<Buffer>;
  /** `rawSize`, when known (the object's metadata), lets the output come back in one piece. */
  decompress(stored: Buffer, rawSize?: number): Promise<Buffer>;
  compressStream(): Transform;
  decompressStream(): Transform;
}

/** Object-name suffix per codec: the one table readers, writers and key lookups share. */
export const CODEC_SUFFIXES: Readonly<Record<CodecName, string>> = { zstd: '.zst', gzip: '.gz', none: '' };

const zstdCompress = promisify(zlib.zstdCompress);
const zstdDecompress = promisify(zlib.zstdDecompress);
const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

/**
 * Output chunk of a one-shot compression: each chunk is a round trip between libuv's pool and the
 * main thread, and the default 16 KiB made a segment's ~1 MiB of output cost a third more CPU.
 */
const ONE_SHOT_CHUNK = 1 << 20;
/** Metadata can lie: no single output buffer larger than a backup chunk (64 MiB). */
const MAX_ONE_PIECE = 64 << 20;
/**
 * Output chunk of a one-shot decompression: the whole result when its size is known. With 16 KiB
 * chunks a 16 MiB segment came back in 1,024 round trips and cost five times the CPU of one.
 */
const decompressChunk = (rawSize: number | undefined) =>
  rawSize && rawSize > 0 && rawSize <= MAX_ONE_PIECE ? rawSize : ONE_SHOT_CHUNK;

function zstd(level = 3): Codec {
  const opts = { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } };
  return {
    name: 'zstd',
    level,
    suffix: CODEC_SUFFIXES.zstd,
    compress: (raw) => zstdCompress(raw, { ...opts, chunkSize: ONE_SHOT_CHUNK }),
    decompress: (stored, rawSize) => zstdDecompress(stored, { chunkSize: decompressChunk(rawSize) }),
    compressStream: () => zlib.createZstdCompress(opts),
    decompressStream: () => zlib.createZstdDecompress({ chunkSize: ONE_SHOT_CHUNK }),
  };
}

function gz(level = 6): Codec {
  return {
    name: 'gzip',
    level,
    suffix: CODEC_SUFFIXES.gzip,
    compress: (raw) => gzip(raw, { level }),
    decompress: (stored, rawSize) => gunzip(stored, { chunkSize: decompressChunk(rawSize) }),
    compressStream: () => zlib.createGzip({ level }),
    decompressStream: () => zlib.createGunzip({ chunkSize: ONE_SHOT_CHUNK }),
  };
}

function none(): Codec {
  return {
    name: 'none',
    level: undefined,
    suffix: CODEC_SUFFIXES.none,
    compress: (raw) => Promise.resolve(raw),
    decompress: (stored) => Promise.resolve(stored),
    compressStream: () => new PassThrough(),
    decompressStream: () => new PassThrough(),
  };
}

/** Parses WALFLOW_COMPRESSION: `zstd`, `zstd:<1-19>`, `gzip:<1-9>`, `none`. */
export function parseCompression(spec: string): Codec {
  const [name, levelText, ...extra] = spec.trim().split(':');
  if (extra.length > 0) throw new Error(`WALFLOW_COMPRESSION="${spec}": use zstd, zstd:<level>, gzip:<level> or none`);
  const level = levelText === undefined ? undefined : Number(levelText);
  const bad = (range: string) => new Error(`WALFLOW_COMPRESSION="${spec}": level must be an integer ${range}`);
  switch (name) {
    case 'zstd':
      if (level !== undefined && !(Number.isInteger(level) && level >= 1 && level <= 19)) throw bad('1-19');
      return zstd(level);
    case 'gzip':
      if (level !== undefined && !(Number.isInteger(level) && level >= 1 && level <= 9)) throw bad('1-9');
      return gz(level);
    case 'none':
      if (level !== undefined) throw new Error(`WALFLOW_COMPRESSION="${spec}": none takes no level`);
      return none();
    default:
      throw new Error(`WALFLOW_COMPRESSION="${spec}": use zstd, zstd:<level>, gzip:<level> or none`);
  }
}

/** The codec that reads an object written with the given codec name (levels do not matter). */
export function codecByName(name: string): Codec {
  if (name === 'zstd' || name === 'gzip' || name === 'none') return parseCompression(name);
  throw new Error(`unknown codec "${name}" in object metadata`);
}
