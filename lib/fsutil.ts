// Durable local writes: temp file, fsync, rename, fsync the directory.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsyncDir } from './fsync';

/** Writes `data` to `file` so that a crash leaves the old file or the whole new one; created with `mode`. */
export async function writeFileDurably(
  file: string,
  data: Buffer,
  tmpDir = path.dirname(file),
  mode = 0o640,
): Promise<void> {
  await fs.promises.mkdir(tmpDir, { recursive: true });
  // Unique per call: concurrent writers of one name (or one base name) must not share a temp file.
  const tmp = path.join(tmpDir, `.${path.basename(file)}.${process.pid}.${randomUUID()}.tmp`);
  try {
    const fh = await fs.promises.open(tmp, 'w', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (e) {
    // A full disk (ENOSPC) must not leave a partial temp file taking yet more room.
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(path.dirname(file));
}
