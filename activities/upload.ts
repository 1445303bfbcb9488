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
import { CLUSTER_MISMATCH, CONTENT_CONFLICT, CopyResult, StagedFile } from '../lib/contracts';

/** Well inside the workflow's heartbeat timeout, so a slow PUT is not mistaken for a dead worker. */
const HEARTBEAT_MS = 5_000;

export function uploadActivities(config: Config, stores: Map<string, Store>) {
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
      const started = Date.now();
      const spool = new SpoolPaths(config.spoolDir, cluster);
      const file = spool.staged(staged.name, codecByName(staged.codec).suffix);
      const body = await fs.promises.readFile(file);
      ctx.heartbeat({ store: storeName, phase: 'identity' });
      await checkIdentity(store, cluster, staged, ctx.cancellationSignal);
      ctx.heartbeat({ store: storeName, phase: 'put' });
      const meta = {
        codec: staged.codec,
        rawSize: staged.rawSize,
        sha256: staged.sha256,
        walIndex: staged.walIndex ?? undefined,
        keyId: staged.keyId,
      };
      let outcome: 'created' | 'exists';
      const beat = setInterval(() => ctx.heartbeat({ store: storeName, phase: 'put' }), HEARTBEAT_MS);
      try {
        outcome = await putCreateOnly(store, staged.key, body, meta, ctx.cancellationSignal);
      } catch (e) {
        if (e instanceof ConflictError) throw ApplicationFailure.nonRetryable(e.message, CONTENT_CONFLICT);
        throw e;
      } finally {
        clearInterval(beat);
      }
      // Confirm what the store now holds, not what we sent.
      const held = await store.head(staged.key, ctx.cancellationSignal);
      if (!held || held.meta?.sha256 !== staged.sha256 || (outcome === 'created' && held.size !== body.length)) {
        throw new Error(
          `${storeName}: ${staged.key} does not read back as written (size ${held?.size}, sha256 ${held?.meta?.sha256}); retrying`,
        );
      }
      return { store: storeName, outcome, confirmedAt: new Date().toISOString(), uploadMs: Date.now() - started };
    },
  };
}
