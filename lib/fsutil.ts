// Durable local writes: temp file, fsync, rename, fsync the directory.
import * as fs from 'node:fs';
import * as path from 'node:path';

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.promises.open(dir, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

/** Writes `data` to `file` so that a crash leaves the old file or the whole new one. */
export async function writeFileDurably(file: string, data: Buffer, tmpDir = path.dirname(file)): Promise<void> {
  await fs.promises.mkdir(tmpDir, { recursive: true });
  const tmp = path.join(tmpDir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fh = await fs.promises.open(tmp, 'w', 0o640);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, file);
  await fsyncDir(path.dirname(file));
}
