// S3-compatible driver (Cloudflare R2, Backblaze B2, versitygw, MinIO, AWS).
// Traps handled here: SDK v3's default CRC32/aws-chunked uploads (B2 and R2 reject them), so
// checksums only WHEN_REQUIRED plus Content-MD5; per-request timeouts (R2 hangs under bursts);
// the caller's AbortSignal reaches every request (activity cancellation).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { NotFoundError } from '../errors';
import { Body, metaFromHeaders, metaToHeaders, ObjectInfo, ObjectMeta, s3KeyPrefix, s3Location, Store } from './store';

export interface S3StoreConfig {
  name: string;
  endpoint?: string;
  region: string;
  bucket: string;
  prefix: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
  /** false for stores without If-None-Match on PUT: HEAD first (a small race, documented). */
  conditionalPut: boolean;
  requestTimeoutMs: number;
  /** PEM certificates this store's TLS certificate is verified against, instead of the system's CAs. */
  caFile?: string;
}

function status(e: unknown): number | undefined {
  return e instanceof S3ServiceException ? e.$metadata?.httpStatusCode : undefined;
}

export class S3Store implements Store {
  readonly name: string;
  readonly location: string;
  private readonly client: S3Client;
  private readonly prefix: string;

  constructor(private readonly cfg: S3StoreConfig) {
    this.name = cfg.name;
    this.prefix = s3KeyPrefix(cfg.prefix);
    this.location = s3Location(cfg.bucket, cfg.prefix);
    this.client = new S3Client({
      region: cfg.region,
      endpoint: cfg.endpoint,
      forcePathStyle: cfg.forcePathStyle,
      credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
      // Without throwOnRequestTimeout the SDK only logs a warning and the request hangs on.
      requestHandler: {
        connectionTimeout: 5_000,
        requestTimeout: cfg.requestTimeoutMs,
        throwOnRequestTimeout: true,
        // An Agent instance, not agent options: the SDK builds a fresh default agent for
        // 100-continue uploads unless the agent is the caller's own, and that one would not trust the CA.
        ...(cfg.caFile
          ? { httpsAgent: new https.Agent({ keepAlive: true, maxSockets: 50, ca: fs.readFileSync(cfg.caFile) }) }
          : {}),
      },
    });
  }

  private k(key: string): string {
    return this.prefix + key;
  }

  async head(key: string, signal?: AbortSignal): Promise<ObjectInfo | undefined> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.cfg.bucket, Key: this.k(key) }), {
        abortSignal: signal,
      });
      return { key, size: r.ContentLength ?? 0, meta: metaFromHeaders(r.Metadata, key), lastModified: r.LastModified };
    } catch (e) {
      if (status(e) === 404) return undefined;
      throw e;
    }
  }

  async getStream(key: string, signal?: AbortSignal): Promise<Readable> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.cfg.bucket, Key: this.k(key) }), {
        abortSignal: signal,
      });
      return r.Body as Readable;
    } catch (e) {
      if (status(e) === 404) throw new NotFoundError(key);
      throw e;
    }
  }

  async get(key: string, signal?: AbortSignal): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of await this.getStream(key, signal)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  async read(key: string, signal?: AbortSignal): Promise<{ body: Buffer; info: ObjectInfo } | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.cfg.bucket, Key: this.k(key) }), {
        abortSignal: signal,
      });
      const chunks: Buffer[] = [];
      for await (const c of r.Body as Readable) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks);
      return {
        body,
        info: { key, size: body.length, meta: metaFromHeaders(r.Metadata, key), lastModified: r.LastModified },
      };
    } catch (e) {
      if (status(e) === 404) return undefined;
      throw e;
    }
  }

  async putNew(key: string, body: Body, meta: ObjectMeta, signal?: AbortSignal): Promise<'created' | 'exists'> {
    if (!this.cfg.conditionalPut && (await this.head(key, signal))) return 'exists';
    const data = Buffer.isBuffer(body) ? body : await fs.promises.readFile(body.path);
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.cfg.bucket,
          Key: this.k(key),
          Body: data,
          ContentLength: data.length,
          ContentMD5: createHash('md5').update(data).digest('base64'),
          Metadata: metaToHeaders(meta),
          IfNoneMatch: this.cfg.conditionalPut ? '*' : undefined,
        }),
        { abortSignal: signal },
      );
      return 'created';
    } catch (e) {
      // 412: the key exists. 409: a concurrent conditional write to the same key is in flight.
      if (status(e) === 412 || status(e) === 409) return 'exists';
      throw e;
    }
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const r = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.cfg.bucket,
          Prefix: this.k(prefix),
          ContinuationToken: token,
        }),
        { abortSignal: signal },
      );
      for (const o of r.Contents ?? []) {
        yield {
          key: o.Key!.slice(this.prefix.length),
          size: o.Size ?? 0,
          meta: undefined,
          lastModified: o.LastModified,
        };
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.cfg.bucket, Key: this.k(key) }), {
      abortSignal: signal,
    });
  }
}
