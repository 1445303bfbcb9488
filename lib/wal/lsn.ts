// LSNs are 64-bit: always bigint, never strings or JS numbers (which lose precision past 2^53).

export type Lsn = bigint;

export function parseLsn(text: string): Lsn {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!m) throw new Error(`not an LSN: "${text}" (expected e.g. 0/16B3748)`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** Segment number holding the given LSN. */
export function segmentNumberOf(lsn: Lsn, segmentSize: number): bigint {
  return lsn / BigInt(segmentSize);
}

export function segmentStartLsn(segno: bigint, segmentSize: number): Lsn {
  return segno * BigInt(segmentSize);
}
