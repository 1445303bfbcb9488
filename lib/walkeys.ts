// Every key a WAL file may have been archived under: history files have one, segments one per
// codec (the configured codec first, since WALFLOW_COMPRESSION may have changed since); and
// back from a key to the file's name.
import { CODEC_SUFFIXES, CodecName } from './codec';
import { walKey } from './keys';
import { parseWalName, WalName } from './wal/name';

export function walKeyCandidates(cluster: string, wal: WalName, compression = 'zstd'): string[] {
  if (wal.kind === 'history') return [walKey(cluster, wal, '')];
  const preferred = CODEC_SUFFIXES[compression.split(':')[0] as CodecName] ?? CODEC_SUFFIXES.zstd;
  const suffixes = [preferred, ...Object.values(CODEC_SUFFIXES).filter((s) => s !== preferred)];
  return suffixes.map((s) => walKey(cluster, wal, s));
}

/** WAL file name from its object key: the last path part without the codec suffix. */
export function walNameOfKey(key: string): string | undefined {
  const last = key.slice(key.lastIndexOf('/') + 1);
  for (const suffix of Object.values(CODEC_SUFFIXES)) {
    const base = suffix && last.endsWith(suffix) ? last.slice(0, -suffix.length) : last;
    if (parseWalName(base)) return base;
  }
  return undefined;
}
