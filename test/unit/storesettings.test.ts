// The store settings have one schema: `walflow fetch` (storesFromEnv) and every other command
// (loadConfig) read the same stores from the same settings, and refuse the same mistakes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../lib/config';
import { UserError } from '../../lib/errors';
import { storesFromEnv } from '../../lib/stores/fromenv';
import { parseStoreSettings } from '../../lib/stores/settings';

const env = {
  WALFLOW_CLUSTER: 'main',
  WALFLOW_SPOOL_DIR: '/var/spool/walflow',
  WALFLOW_CATALOG_URL: 'postgres://u@db/walflow',
  WALFLOW_STORES: 'r2,local',
  WALFLOW_STORE_R2_TYPE: 's3',
  WALFLOW_STORE_R2_BUCKET: 'wal',
  WALFLOW_STORE_R2_ACCESS_KEY_ID: 'k',
  WALFLOW_STORE_R2_SECRET_ACCESS_KEY: 's',
  WALFLOW_STORE_R2_ENDPOINT: 'https://acct.r2.cloudflarestorage.com',
  WALFLOW_STORE_LOCAL_TYPE: 'fs',
  WALFLOW_STORE_LOCAL_PATH: '/srv/wal',
};

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (e) {
    assert.ok(e instanceof UserError, String(e));
    return e.message;
  }
  assert.fail('accepted');
}

describe('store settings', () => {
  test('REQUEST_TIMEOUT reaches the worker and fetch alike; unset, fetch gives up sooner', () => {
    const timeout = (stores: { store: { type: string; requestTimeoutMs?: number } }[]) =>
      stores.map((s) => (s.store.type === 's3' ? s.store.requestTimeoutMs : undefined))[0];
    assert.equal(timeout(parseStoreSettings(env)), 60_000);
    assert.equal(timeout(parseStoreSettings(env, { requestTimeoutMs: 20_000 })), 20_000);
    const set = { ...env, WALFLOW_STORE_R2_REQUEST_TIMEOUT: '90s' };
    assert.equal(timeout(parseStoreSettings(set)), 90_000);
    assert.equal(timeout(parseStoreSettings(set, { requestTimeoutMs: 20_000 })), 90_000);
    const c = loadConfig(set);
    assert.equal(c.stores[0].type === 's3' && c.stores[0].requestTimeoutMs, 90_000);
  });

  test('fetch opens the configured stores in order, without loading the AWS SDK', () => {
    const stores = storesFromEnv(env);
    assert.deepEqual(
      stores.map((s) => s.name),
      ['r2', 'local'],
    );
    assert.equal(stores[1].location, '/srv/wal');
    assert.ok(!Object.keys(require.cache).some((m) => m.includes('@aws-sdk')), 'the SDK loads on first use only');
  });

  test('fetch and the other commands refuse the same mistakes with the same message', () => {
    for (const [setting, value, says] of [
      ['WALFLOW_STORE_R2_REQUEST_TIMEOUT', 'soon', /WALFLOW_STORE_R2_REQUEST_TIMEOUT: not a duration/],
      ['WALFLOW_STORE_R2_FORCE_PATH_STYLE', 'maybe', /WALFLOW_STORE_R2_FORCE_PATH_STYLE: "maybe": use true or false/],
      ['WALFLOW_STORE_R2_ENDPOINT', 'r2.example', /WALFLOW_STORE_R2_ENDPOINT: "r2.example" is not a URL/],
      ['WALFLOW_STORE_R2_RETENTION_DAYS', '0', /WALFLOW_STORE_R2_RETENTION_DAYS/],
      ['WALFLOW_STORE_R2_TYPE', 'gcs', /store "r2": WALFLOW_STORE_R2_TYPE: "gcs" is not a store type: use s3 or fs/],
      ['WALFLOW_STORE_LOCAL_PATH', '', /store "local": WALFLOW_STORE_LOCAL_PATH: required/],
      ['WALFLOW_STORES', 'R2', /WALFLOW_STORES: "R2": store names are lower-case/],
    ] as const) {
      const bad = { ...env, [setting]: value };
      const fromFetch = refusal(() => storesFromEnv(bad));
      assert.match(fromFetch, says, setting);
      assert.equal(
        refusal(() => loadConfig(bad)),
        fromFetch,
        setting,
      );
    }
  });
});
