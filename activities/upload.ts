// One staged file to one store, create-only, then confirmed by a HEAD of what the store holds.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ClusterIdentity, parseClusterJson } from '../lib/clusterjson';
import type { Config } from '../lib/config';
import { ConflictError } from '../lib/errors';
import { clusterJsonKey } from '../lib/keys';
import { SpoolPaths } from '../lib/spool';
import { putCreateOnly, Store } from '../lib/stores/store';
import { codecByName } from '../lib/codec';
import { CLUSTER_JSON_FORMAT } from '../lib/formats';
import { BatchCopies, CLUSTER_MISMATCH, CONTENT_CONFLICT, CopyResult, StagedFile } from '../lib/contracts';
import { forEachLimit } from '../lib/concurrency';
import type { UploadProgress } from '../lib/uploadprogress';

/** Well inside the workflow's heartbeat timeout, so a slow PUT is not mistaken for a dead worker. */
const HEARTBEAT_MS = 5_000;
/** PUTs in flight per store and batch: overlaps round trips without a burst R2 answers with 429. */
const BATCH_UPLOADS_AT_ONCE = 4;

/** A store that answered and refused the file for good: it is not failing. */
const isRefusal = (e: unknown): e is ApplicationFailure & { type: string } =>
  e instanceof ApplicationFailure && (e.type === CONTENT_CONFLICT || e.type === CLUSTER_MISMATCH);

/** `progress`: told of every copy and failed attempt, for the spool watcher of this worker. */
export function uploadActivities(config: Config, stores: Map<string, Store>, progress?: UploadProgress) {
  // cluster.json checked once per store and process: it never changes once written.
  const knownIdentity = new Map<string, string>();

  function storeOf(name: string): Store {
    const s = stores.get(name);
    if (!s)
      throw ApplicationFailure.nonRetryable(
        `store "${name}" is not configured on this worker (WALFLOW_STORES)`,
        'UnknownStore',
      );
    return s;
  }

  /** The store's cluster.json must name the same system; the first upload writes it. */
  async function checkIdentity(store: Store, cluster: string, staged: StagedFile, signal: AbortSignal): Promise<void> {
    if (!staged.systemIdentifier) return;
    const cacheKey = `${store.name}/${cluster}`;
    if (knownIdentity.get(cacheKey) === staged.systemIdentifier) return;
    const key = clusterJsonKey(cluster);
    const identity: ClusterIdentity = {
      format: CLUSTER_JSON_FORMAT,
      cluster,
      systemIdentifier: staged.systemIdentifier,
      pgVersion: staged.pgVersion,
      segmentSize: staged.segmentSize!,
      createdAt: new Date().toISOString(),
    };
    const body = Buffer.from(JSON.stringify(identity, null, 2) + '\n');
    const meta = { codec: 'none', rawSize: body.length, sha256: createHash('sha256').update(body).digest('hex') };
    if ((await store.putNew(key, body, meta, signal)) === 'exists') {
      const existing = parseClusterJson(await store.get(key, signal), cluster);
      if (existing.systemIdentifier !== staged.systemIdentifier) {
        throw ApplicationFailure.nonRetryable(
          `${staged.name} is from system ${staged.systemIdentifier} but ${store.name}:${key} belongs to system ` +
            `${existing.systemIdentifier}; two clusters are configured as "${cluster}"`,
          CLUSTER_MISMATCH,
        );
      }
    }
    knownIdentity.set(cacheKey, staged.systemIdentifier);
  }

  /**
   * One staged file to one store, confirmed by a HEAD. A duplicate run of the same file (the
   * sweep beside a batch) may have removed the staged copy once every store held it: then the
   * store's copy, if it is this content, is the answer.
   */
  async function uploadOne(
    store: Store,
    cluster: string,
    staged: StagedFile,
    signal: AbortSignal,
  ): Promise<CopyResult> {
    const started = Date.now();
    const spool = new SpoolPaths(config.spoolDir, cluster);
    const file = spool.staged(staged.name, codecByName(staged.codec).suffix);
    let body: Buffer;
    try {
      body = await fs.promises.readFile(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      const held = await store.head(staged.key, signal);
      if (held?.meta?.sha256 === staged.sha256)
        return { store: store.name, outcome: 'exists', confirmedAt: new Date().toISOString(), uploadMs: 0 };
      throw new Error(`${staged.name}: staged copy ${file} is gone and ${store.name} does not hold it; retrying`, {
        cause: e,
      });
    }
    await checkIdentity(store, cluster, staged, signal);
    const meta = {
      codec: staged.codec,
      rawSize: staged.rawSize,
      sha256: staged.sha256,
      walIndex: staged.walIndex ?? undefined,
      keyId: staged.keyId,
    };
    let outcome: 'created' | 'exists';
    try {
      outcome = await putCreateOnly(store, staged.key, body, meta, signal);
    } catch (e) {
      if (e instanceof ConflictError) throw ApplicationFailure.nonRetryable(e.message, CONTENT_CONFLICT);
      throw e;
    }
    // Confirm what the store now holds, not what we sent.
    const held = await store.head(staged.key, signal);
    if (!held || held.meta?.sha256 !== staged.sha256 || (outcome === 'created' && held.size !== body.length)) {
      throw new Error(
        `${store.name}: ${staged.key} does not read back as written (size ${held?.size}, sha256 ${held?.meta?.sha256}); retrying`,
      );
    }
    return { store: store.name, outcome, confirmedAt: new Date().toISOString(), uploadMs: Date.now() - started };
  }

  async function uploadReported(
    store: Store,
    cluster: string,
    staged: StagedFile,
    signal: AbortSignal,
  ): Promise<CopyResult> {
    try {
      const copy = await uploadOne(store, cluster, staged, signal);
      progress?.copied(store.name, staged.name);
      return copy;
    } catch (e) {
      if (!signal.aborted && !isRefusal(e)) progress?.failed(store.name);
      throw e;
    }
  }

  return {
    async uploadToStore({
      cluster,
      store: storeName,
      staged,
    }: {
      cluster: string;
      store: string;
      staged: StagedFile;
    }): Promise<CopyResult> {
      const ctx = Context.current();
      const store = storeOf(storeName);
      const beat = setInterval(() => ctx.heartbeat({ store: storeName, phase: 'put' }), HEARTBEAT_MS);
      try {
        return await uploadReported(store, cluster, staged, ctx.cancellationSignal);
      } finally {
        clearInterval(beat);
      }
    },

    /**
     * A batch's files to one store, a few at a time. A file the store refuses for good is
     * answered as refused, so the rest of the batch goes on; any other error fails the attempt,
     * and the retry skips the files its heartbeats reported done.
     */
    async uploadBatchToStore({
      cluster,
      store: storeName,
      staged,
    }: {
      cluster: string;
      store: string;
      staged: StagedFile[];
    }): Promise<BatchCopies> {
      const ctx = Context.current();
      const store = storeOf(storeName);
      const resumed = ctx.info.heartbeatDetails as BatchCopies | undefined;
      const result: BatchCopies = { copies: { ...resumed?.copies }, refused: { ...resumed?.refused } };
      const beat = setInterval(() => ctx.heartbeat(result), HEARTBEAT_MS);
      const todo = staged.filter((f) => !result.copies[f.name] && !result.refused[f.name]);
      try {
        await forEachLimit(todo, BATCH_UPLOADS_AT_ONCE, async (f) => {
          try {
            result.copies[f.name] = await uploadReported(store, cluster, f, ctx.cancellationSignal);
          } catch (e) {
            if (!isRefusal(e)) throw e;
            result.refused[f.name] = { type: e.type, message: e.message };
          }
          ctx.heartbeat(result);
        });
      } finally {
        clearInterval(beat);
      }
      return result;
    },
  };
}
