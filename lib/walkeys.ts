// Every key a WAL file may have been archived under: history files have one, segments one per
// codec (the configured codec first, since WALFLOW_COMPRESSION may have changed since).
import { CODEC_SUFFIXES, CodecName } from './codec';
import { walKey } from './keys';
import type { WalName } from './wal/name';

export function walKeyCandidates(cluster: string, wal: WalName, compression = 'zstd'): string[] {
  if (wal.kind === 'history') return [walKey(cluster, wal, '')];
  const preferred = CODEC_SUFFIXES[compression.split(':')[0] as CodecName] ?? CODEC_SUFFIXES.zstd;
  const suffixes = [preferred, ...Object.values(CODEC_SUFFIXES).filter((s) => s !== preferred)];
  return suffixes.map((s) => walKey(cluster, wal, s));
}
