// Unpacks a tar stream into a folder with `tar -x` so that an interrupted unpack can go on
// where it stopped. The stream is cut at member headers into slices, one `tar -x` each (a tar
// stream cut before a header is two valid archives). Once a slice's tar has exited 0, every
// member before the cut is in the folder, and the cut is a point to resume from: a later
// attempt starts a new `tar -x` there, which replaces whatever a killed one half-wrote after it.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { TarScanner } from './tarscan';

/** Two zero blocks end a tar archive. */
const END_OF_ARCHIVE = Buffer.alloc(1024);

/**
 * The running boot of this machine. Unpacked files are not fsynced: a killed worker leaves
 * them in the page cache, a reboot may not, so a resume point is good only on the boot that
 * made it. Undefined where the kernel does not tell (no resuming there).
 */
export function bootId(): string | undefined {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export class ResumableUntar {
  private readonly scanner: TarScanner;
  private tar: TarProcess;
  private position: number;
  /** Stream offset before which every member is unpacked. */
  unpackedUpTo: number;

  /** `from`: the stream offset of the first byte written, a member header (0: the start). */
  constructor(
    private readonly dir: string,
    from = 0,
  ) {
    this.scanner = new TarScanner(new Set(), 0, from);
    this.position = from;
    this.unpackedUpTo = from;
    this.tar = new TarProcess(dir);
  }

  /**
   * Writes the next bytes of the stream. When a member starts in them, the running tar gets
   * the bytes before it and is waited for, and a new one takes the rest: the returned offset
   * of that member is then a resume point.
   */
  async write(data: Buffer): Promise<number | undefined> {
    const at = this.position;
    this.position += data.length;
    this.scanner.feed(data);
    const cut = this.scanner.lastMemberStart;
    // A header that began in earlier bytes has gone to the running tar already.
    if (cut === undefined || cut <= this.unpackedUpTo || cut < at) {
      await this.tar.write(data);
      return undefined;
    }
    await this.tar.write(data.subarray(0, cut - at));
    await this.tar.finish(END_OF_ARCHIVE);
    this.unpackedUpTo = cut;
    this.tar = new TarProcess(this.dir);
    await this.tar.write(data.subarray(cut - at));
    return cut;
  }

  /** After the last bytes: waits for the last tar. */
  async end(): Promise<void> {
    await this.tar.finish();
    this.unpackedUpTo = this.position;
  }

  kill(): void {
    this.tar.kill();
  }
}

class TarProcess {
  private readonly child: ChildProcess;
  private stderr = '';
  private exitCode: number | null | undefined;
  private readonly exited: Promise<void>;

  constructor(private readonly dir: string) {
    this.child = spawn('tar', ['-x', '-f', '-', '-C', dir], { stdio: ['pipe', 'ignore', 'pipe'], cwd: '/' });
    this.child.stderr!.on('data', (d: Buffer) => {
      if (this.stderr.length < 8192) this.stderr += d.toString();
    });
    this.child.stdin!.on('error', () => undefined); // reported through tar's exit status
    this.exited = new Promise((resolve) => {
      this.child.on('error', (e) => {
        this.stderr += e.message;
        this.exitCode ??= null;
        resolve();
      });
      this.child.on('close', (code) => {
        this.exitCode ??= code;
        resolve();
      });
    });
  }

  async write(data: Buffer): Promise<void> {
    if (this.exitCode === undefined && (data.length === 0 || this.child.stdin!.write(data))) return;
    // Backpressure: wait until tar has taken it, or has exited.
    if (this.exitCode === undefined)
      await Promise.race([new Promise((r) => this.child.stdin!.once('drain', r)), this.exited]);
    if (this.exitCode === undefined) return;
    // tar stops reading at the end-of-archive blocks; zeros after them are padding.
    if (this.exitCode === 0 && data.every((b) => b === 0)) return;
    throw this.failure();
  }

  async finish(trailer?: Buffer): Promise<void> {
    if (trailer) await this.write(trailer);
    this.child.stdin!.end();
    await this.exited;
    if (this.exitCode !== 0) throw this.failure();
  }

  kill(): void {
    if (this.exitCode === undefined) this.child.kill();
  }

  private failure(): Error {
    return new Error(
      `tar -x into ${this.dir} exited with ${this.exitCode}: ${this.stderr.trim().split('\n').slice(0, 5).join(' | ')}`,
    );
  }
}
