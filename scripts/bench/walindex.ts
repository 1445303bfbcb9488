// The per-segment index (lib/wal/segmentindex.ts) against what staging spends on the same
// segment anyway (SHA-256 and zstd): the index's share of staging, per segment.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { parseCompression } from '../../lib/codec';
import { indexSegment } from '../../lib/wal/segmentindex';
import { log, median, msSince, now } from './util';

export interface IndexFigures {
  indexMs: number[];
  stagingMs: number[];
  /** Index time over hashing plus compression time, per segment. */
  share: number[];
  unreadable: number;
}

export async function benchIndex(segments: string[], budgetMs: number): Promise<IndexFigures> {
  const codec = parseCompression('zstd');
  const f: IndexFigures = { indexMs: [], stagingMs: [], share: [], unreadable: 0 };
  const started = Date.now();
  for (const seg of segments) {
    const raw = fs.readFileSync(seg);
    let t0 = now();
    createHash('sha256').update(raw).digest('hex');
    await codec.compress(raw);
    const staging = msSince(t0);
    t0 = now();
    const index = indexSegment(raw);
    const ms = msSince(t0);
    if (index.error || index.end === 'invalid') f.unreadable++;
    f.indexMs.push(ms);
    f.stagingMs.push(staging);
    f.share.push(ms / staging);
    if (Date.now() - started > budgetMs && f.indexMs.length >= 8) break;
  }
  log(
    `segment index: median ${median(f.indexMs).toFixed(2)} ms/segment, ${(median(f.share) * 100).toFixed(1)}% of hashing + zstd (${median(f.stagingMs).toFixed(1)} ms), ${f.unreadable} unreadable`,
  );
  return f;
}
