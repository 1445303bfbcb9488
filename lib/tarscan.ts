// Watches a tar stream go by and keeps the contents of a few named members (pg_basebackup's
// backup_label and backup_manifest say where the backup starts and ends), without buffering
// the stream itself. It also knows where the newest member's header began: a tar stream can
// be cut there into two valid archives, which is how a restore's download resumes.
const BLOCK = 512;

export class TarScanner {
  private header = Buffer.alloc(0);
  /** Bytes of the current member's data (plus padding) still to pass. */
  private remaining = 0;
  private padding = 0;
  private capturing: { name: string; parts: Buffer[] } | undefined;
  readonly captured = new Map<string, Buffer>();
  /** Bytes of the stream fed so far, counted from `offset` (where the scanner was started). */
  private position: number;
  /** Stream offset of the header of the newest member seen (end-of-archive blocks are no member). */
  lastMemberStart: number | undefined;

  /** `offset`: where in a longer stream the first byte fed sits; it must be a member header. */
  constructor(
    private readonly wanted: Set<string>,
    private readonly maxCapture = 256 << 20,
    offset = 0,
  ) {
    this.position = offset;
  }

  feed(data: Buffer): void {
    let off = 0;
    const base = this.position;
    this.position += data.length;
    while (off < data.length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, data.length - off);
        this.capturing?.parts.push(data.subarray(off, off + n));
        this.remaining -= n;
        off += n;
        if (this.remaining === 0) this.endMember();
        continue;
      }
      if (this.padding > 0) {
        const n = Math.min(this.padding, data.length - off);
        this.padding -= n;
        off += n;
        continue;
      }
      const n = Math.min(BLOCK - this.header.length, data.length - off);
      this.header = Buffer.concat([this.header, data.subarray(off, off + n)]);
      off += n;
      if (this.header.length === BLOCK) this.startMember(base + off - BLOCK);
    }
  }

  private startMember(at: number): void {
    const h = this.header;
    this.header = Buffer.alloc(0);
    if (h.every((b) => b === 0)) return; // end-of-archive blocks
    this.lastMemberStart = at;
    const name = cString(h.subarray(0, 100));
    const prefix = h.subarray(257, 262).toString() === 'ustar' ? cString(h.subarray(345, 500)) : '';
    const size = parseSize(h.subarray(124, 136));
    const full = (prefix ? `${prefix}/${name}` : name).replace(/^\.\//, '');
    this.remaining = size;
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
    this.capturing = this.wanted.has(full) && size <= this.maxCapture ? { name: full, parts: [] } : undefined;
    if (size === 0) this.endMember();
  }

  private endMember(): void {
    if (this.capturing) this.captured.set(this.capturing.name, Buffer.concat(this.capturing.parts));
    this.capturing = undefined;
  }
}

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end).toString('utf8');
}

function parseSize(b: Buffer): number {
  if (b[0] & 0x80) {
    // base-256 for members of 8 GiB and more
    let v = 0n;
    for (let i = 1; i < b.length; i++) v = (v << 8n) | BigInt(b[i]);
    return Number(v);
  }
  const text = cString(b).trim();
  return text ? parseInt(text, 8) : 0;
}
