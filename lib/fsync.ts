// Making a rename or a new file durable means fsyncing the folder that holds it. The sync form
// serves push and fetch (PostgreSQL waits on them, and they load nothing they can avoid).
import * as fs from 'node:fs';

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.promises.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
