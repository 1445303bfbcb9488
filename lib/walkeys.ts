// Every key a WAL file may have been archived under: history files have one, segments one per
// codec (the configured codec first, since WALFLOW_COMPRESSION may have changed since).
import { walKey } from './keys';
import type { WalName } from './wal/name';

const SUFFIXES: Record<string, string> = { zstd: '.zst', gzip: '.gz', none: '' };

export function walKeyCandidates(cluster: string, wal: WalName, compression = 'zstd'): string[] {
  if (wal.kind === 'history') return [walKey(cluster, wal, '')];
  const preferred = SUFFIXES[compression.split(':')[0]] ?? '.zst';
  const suffixes = [preferred, ...Object.values(SUFFIXES).filter((s) => s !== preferred)];
  return suffixes.map((s) => walKey(cluster, wal, s));
}
