// A synthetic archive for scale tests and the bench: many small WAL objects with valid walflow
// metadata (a few hundred bytes each, not real WAL), a cluster.json and two backup manifests,
// written straight into stores. Nothing reads their content but checksums, so that is enough to
// exercise listing, planning, verifying and deleting at the size of a real archive.
import { createHash } from 'node:crypto';
import { codecByName } from '../../lib/codec';
import { CLUSTER_JSON_FORMAT, MANIFEST_FORMAT } from '../../lib/formats';
import { backupPrefix, clusterJsonKey, walKey } from '../../lib/keys';
import type { Store } from '../../lib/stores/store';
import { formatLsn, segmentStartLsn } from '../../lib/wal/lsn';
import { parseWalName, segmentName } from '../../lib/wal/name';

const SEGMENT_SIZE = 16 * 1024 * 1024;
const DAY = 86_400_000;

export interface SyntheticArchive {
  cluster: string;
  /** Segments 1..count on timeline 1. */
  segments: string[];
  keyOf: (segment: string) => string;
  /** Started at segment 1 and finished 60 days before `now`: outside a 30-day retention. */
  oldBackup: string;
  /** Started halfway and finished a day before `now`: kept. */
  newBackup: string;
  /** Keys retention deletes when it keeps only the new backup. */
  prunable: string[];
}

export function syntheticArchive(cluster: string, count: number): SyntheticArchive {
  const segments = Array.from({ length: count }, (_, i) => segmentName(1, BigInt(i + 1), SEGMENT_SIZE));
  const keyOf = (segment: string) => walKey(cluster, parseWalName(segment, SEGMENT_SIZE)!, '.zst');
  const oldBackup = '20000101T000000Z';
  const prunable = [
    `${backupPrefix(cluster, oldBackup)}manifest.json`,
    ...segments.slice(0, Math.floor(count / 2)).map(keyOf),
  ];
  return { cluster, segments, keyOf, oldBackup, newBackup: '20000102T000000Z', prunable };
}

const objectOf = async (text: string) => {
  const raw = Buffer.from(text.repeat(8));
  const body = await codecByName('zstd').compress(raw);
  return { body, meta: { codec: 'zstd', rawSize: raw.length, sha256: createHash('sha256').update(raw).digest('hex') } };
};

/** Writes the archive into `store`, `concurrency` objects at a time; `skip` leaves some segments out. */
export async function writeSyntheticArchive(
  store: Store,
  archive: SyntheticArchive,
  now: Date,
  opts: { concurrency?: number; skip?: (segment: string) => boolean } = {},
): Promise<void> {
  const { cluster, keyOf } = archive;
  const identity = {
    format: CLUSTER_JSON_FORMAT,
    cluster,
    systemIdentifier: '7000000000000000001',
    pgVersion: 17,
    segmentSize: SEGMENT_SIZE,
    createdAt: now.toISOString(),
  };
  const put = async (key: string, text: string) => {
    const o = await objectOf(text);
    await store.putNew(key, o.body, o.meta);
  };
  const putRaw = async (key: string, raw: Buffer) =>
    store.putNew(key, raw, {
      codec: 'none',
      rawSize: raw.length,
      sha256: createHash('sha256').update(raw).digest('hex'),
    });
  await putRaw(clusterJsonKey(cluster), Buffer.from(JSON.stringify(identity)));
  const half = Math.floor(archive.segments.length / 2);
  const manifests = [
    { id: archive.oldBackup, segno: 1, stoppedDaysAgo: 60 },
    { id: archive.newBackup, segno: half + 1, stoppedDaysAgo: 1 },
  ];
  for (const m of manifests) {
    const stop = new Date(now.getTime() - m.stoppedDaysAgo * DAY).toISOString();
    const manifest = {
      format: MANIFEST_FORMAT,
      cluster,
      backupId: m.id,
      label: m.id,
      timeline: 1,
      startLsn: formatLsn(segmentStartLsn(BigInt(m.segno), SEGMENT_SIZE)),
      stopLsn: formatLsn(segmentStartLsn(BigInt(m.segno), SEGMENT_SIZE) + 1n),
      startWal: segmentName(1, BigInt(m.segno), SEGMENT_SIZE),
      stopWal: segmentName(1, BigInt(m.segno), SEGMENT_SIZE),
      startTime: stop,
      stopTime: stop,
      pgVersion: 17,
      pgVersionText: '17',
      systemIdentifier: identity.systemIdentifier,
      segmentSize: SEGMENT_SIZE,
      codec: 'zstd',
      fileCount: 0,
      rawSize: 0,
      storedSize: 0,
      stores: [store.name],
      seconds: 0,
      hostId: 'synthetic',
      walArchivedAt: stop,
      files: [],
    };
    await putRaw(`${backupPrefix(cluster, m.id)}manifest.json`, Buffer.from(JSON.stringify(manifest)));
  }
  const queue = archive.segments.filter((s) => !opts.skip?.(s));
  let next = 0;
  await Promise.all(
    Array.from({ length: opts.concurrency ?? 16 }, async () => {
      while (next < queue.length) {
        const segment = queue[next++];
        await put(keyOf(segment), segment);
      }
    }),
  );
}
