// The cost of encryption at rest per 16 MiB segment, on real segments: what sealing and opening
// the compressed segment (lib/crypto/frames.ts) add to compressing and decompressing it. Called
// at the end of `npm run bench`, or alone:
//   bash scripts/node dist/scripts/bench/encryption.js [SEGMENT...]
// (without segments it makes 16 with pgbench on a PostgreSQL of its own, in a temporary folder
// it removes).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseCompression } from '../../lib/codec';
import { parseKeys } from '../../lib/crypto/keyring';
import { openBuffer, sealBuffer } from '../../lib/crypto/frames';
import { generateSegments, startSource } from './segments';
import { log, median } from './util';

export interface EncryptionFigures {
  segments: number;
  /** zstd compress + decompress of a segment: CPU ms (median), what staging and reading back cost without keys. */
  codecCpuMs: number;
  /** Sealing + opening (AES-256-GCM) the compressed segment: CPU ms (median), what keys add. */
  sealCpuMs: number;
  /** sealCpuMs / codecCpuMs. */
  overhead: number;
}

/** CPU time of this process, every thread (zlib runs on libuv's pool): wall time means little on a shared machine. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export async function benchEncryption(segments: string[], budgetMs: number): Promise<EncryptionFigures> {
  const codec = parseCompression('zstd');
  const ring = parseKeys('bench', [`bench:${randomBytes(32).toString('base64')}`]);
  const codecCpu: number[] = [];
  const sealCpu: number[] = [];
  const started = Date.now();
  for (const seg of segments) {
    const raw = fs.readFileSync(seg);
    let t = cpuMs();
    const compressed = await codec.compress(raw);
    const back = await codec.decompress(compressed);
    codecCpu.push(cpuMs() - t);
    t = cpuMs();
    const { sealed } = sealBuffer(ring, compressed);
    const opened = openBuffer(ring, sealed, 'bench');
    sealCpu.push(cpuMs() - t);
    if (!back.equals(raw) || !opened.equals(compressed)) throw new Error(`${seg} did not round-trip`);
    if (Date.now() - started > budgetMs && codecCpu.length >= 8) break;
  }
  const f = {
    segments: codecCpu.length,
    codecCpuMs: median(codecCpu),
    sealCpuMs: median(sealCpu),
    overhead: median(sealCpu) / median(codecCpu),
  };
  log(
    `encryption: zstd compress+decompress ${f.codecCpuMs.toFixed(1)} CPU ms/segment, AES-256-GCM seal+open ` +
      `${f.sealCpuMs.toFixed(1)} CPU ms more (+${(f.overhead * 100).toFixed(1)}%, median of ${f.segments} segments)`,
  );
  return f;
}

async function main(files: string[]): Promise<void> {
  if (files.length > 0) {
    await benchEncryption(files, 120_000);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'walflow-bench-enc-'));
  fs.chmodSync(dir, 0o755);
  const src = await startSource(dir);
  try {
    await benchEncryption(await generateSegments(src, 16), 120_000);
  } finally {
    await src.pg.stop('fast');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
