// A folder as a store (a local copy, a mounted volume). Metadata sits beside each object in
// `<key>.meta.json`, written before the object is linked into place, so an object is never
// visible without its metadata.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { NotFoundError } from '../errors';
import { METADATA_FORMAT, requireKnownFormat } from '../formats';
import { Body, ObjectInfo, ObjectMeta, Store } from './store';
import { fsyncDir } from '../fsync';
import { writeFileDurably } from '../fsutil';

const META_SUFFIX = '.meta.json';
const TMP_DIR = '.tmp';
/** Absolute object path -> the putNew in progress for it. */
const writing = new Map<string, Promise<void>>();

export class FsStore implements Store {
  readonly location: string;
  constructor(
    readonly name: string,
    private readonly root: string,
  ) {
    this.location = root;
  }

  private file(key: string): string {
    const p = path.resolve(this.root, key);
    if (!p.startsWith(path.resolve(this.root) + path.sep))
      throw new Error(`${this.name}: key escapes the store: ${key}`);
    return p;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const file = this.file(key);
    try {
      const st = await fs.promises.stat(file);
      const { format, ...meta } = JSON.parse(await fs.promises.readFile(file + META_SUFFIX, 'utf8')) as ObjectMeta & {
        format?: number;
      };
      requireKnownFormat(`the walflow metadata of ${key}`, format, METADATA_FORMAT, true);
      return { key, size: st.size, meta, lastModified: st.mtime };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await fs.promises.readFile(this.file(key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(key);
      throw e;
    }
  }

  async read(key: string): Promise<{ body: Buffer; info: ObjectInfo } | undefined> {
    const info = await this.head(key);
    if (!info) return undefined;
    try {
      return { body: await fs.promises.readFile(this.file(key)), info };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // deleted meanwhile
      throw e;
    }
  }

  async getStream(key: string): Promise<Readable> {
    try {
      return (await fs.promises.open(this.file(key))).createReadStream();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(key);
      throw e;
    }
  }

  async putNew(key: string, body: Body, meta: ObjectMeta): Promise<'created' | 'exists'> {
    // One writer per key at a time in this process: the sidecar is written before the link that
    // decides the winner, so an unserialized loser would replace the winner's metadata. (Across
    // processes that window remains; workflow ids keep one writer per object.)
    const file = this.file(key);
    const previous = writing.get(file) ?? Promise.resolve();
    const mine = previous.then(() => this.putNewLocked(file, body, meta));
    const settled = mine.then(
      () => undefined,
      () => undefined,
    );
    writing.set(file, settled);
    try {
      return await mine;
    } finally {
      if (writing.get(file) === settled) writing.delete(file);
    }
  }

  private async putNewLocked(file: string, body: Body, meta: ObjectMeta): Promise<'created' | 'exists'> {
    if (fs.existsSync(file)) return 'exists';
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    await writeFileDurably(
      file + META_SUFFIX,
      Buffer.from(JSON.stringify({ format: METADATA_FORMAT, ...meta })),
      path.join(this.root, TMP_DIR),
    );
    const tmp = path.join(this.root, TMP_DIR, `${path.basename(file)}.${process.pid}.${randomUUID()}`);
    try {
      if (Buffer.isBuffer(body)) await fs.promises.writeFile(tmp, body);
      else await fs.promises.copyFile(body.path, tmp);
      const fh = await fs.promises.open(tmp, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.promises.link(tmp, file); // link() never replaces: the create-only step
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
      // A sidecar without its object is invisible (head reads the object first) but takes room.
      if (!fs.existsSync(file)) await fs.promises.rm(file + META_SUFFIX, { force: true });
      throw e;
    } finally {
      // Also after a failed write: a full disk (ENOSPC) must not keep a partial temp file.
      await fs.promises.rm(tmp, { force: true });
    }
    await fsyncDir(path.dirname(file));
    return 'created';
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const base = path.resolve(this.root);
    const walk = async function* (this: FsStore, dir: string): AsyncIterable<ObjectInfo> {
      let entries: fs.Dirent[];
      try {
        entries = await fs.promises.readdir(dir, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw e;
      }
      for (const ent of entries.sort((a, b) => a.name.localeCompare(b.name))) {
        const full = path.join(dir, ent.name);
        const key = path.relative(base, full).split(path.sep).join('/');
        if (ent.isDirectory()) {
          if (key === TMP_DIR) continue;
          if ((key + '/').startsWith(prefix) || prefix.startsWith(key + '/')) yield* walk.call(this, full);
        } else if (!ent.name.endsWith(META_SUFFIX) && key.startsWith(prefix)) {
          const info = await this.head(key);
          if (info) yield info;
        }
      }
    };
    yield* walk.call(this, base);
  }

  async delete(key: string): Promise<void> {
    const file = this.file(key);
    await fs.promises.rm(file, { force: true });
    await fs.promises.rm(file + META_SUFFIX, { force: true });
  }
}
