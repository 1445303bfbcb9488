// Compression of whole segments with walflow's own codec table (lib/codec.ts): the default
// zstd (Node zlib, level 3) against gzip level 9, which the old design used.
import * as fs from 'node:fs';
import { parseCompression } from '../../lib/codec';
import { log, median, MiB, msSince, now, sum } from './util';

export interface CodecFigures {
  codec: string;
  /** Per-segment compression speed, MB/s of raw input (MiB-based). */
  mbPerSec: number[];
  ms: number[];
  rawBytes: number;
  storedBytes: number;
}

export async function benchCodec(spec: string, segments: string[], budgetMs: number): Promise<CodecFigures> {
  const codec = parseCompression(spec);
  const f: CodecFigures = { codec: spec, mbPerSec: [], ms: [], rawBytes: 0, storedBytes: 0 };
  const started = Date.now();
  for (const seg of segments) {
    const raw = fs.readFileSync(seg);
    const t0 = now();
    const out = await codec.compress(raw);
    const ms = msSince(t0);
    // Round trip once per segment: a codec that loses bytes must not win a benchmark.
    if (!(await codec.decompress(out)).equals(raw)) throw new Error(`${spec} did not round-trip ${seg}`);
    f.ms.push(ms);
    f.mbPerSec.push(raw.length / MiB / (ms / 1000));
    f.rawBytes += raw.length;
    f.storedBytes += out.length;
    if (Date.now() - started > budgetMs && f.ms.length >= 8) {
      log(`${spec}: time budget spent after ${f.ms.length} of ${segments.length} segments; measuring those`);
      break;
    }
  }
  log(
    `${spec}: median ${median(f.ms).toFixed(1)} ms/segment, ${median(f.mbPerSec).toFixed(1)} MB/s, ratio ${(f.rawBytes / f.storedBytes).toFixed(2)}, total ${(sum(f.ms) / 1000).toFixed(1)} s`,
  );
  return f;
}
