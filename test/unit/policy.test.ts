// A cluster's policy: defaults for whatever an input leaves out, what a CLI's settings give a
// run, and where a worker's own settings differ from the cluster's, named by the setting.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../lib/config';
import { policyDifferences, policyOf } from '../../lib/policy';
import { resolvePolicy } from '../../lib/clusterpolicy';

const base = {
  WALFLOW_CLUSTER: 'main',
  WALFLOW_HOST_ID: 'db1',
  WALFLOW_SPOOL_DIR: '/var/spool/walflow',
  WALFLOW_CATALOG_URL: 'postgres://catalog/walflow',
  WALFLOW_STORES: 'r2,b2',
  WALFLOW_STORE_R2_TYPE: 'fs',
  WALFLOW_STORE_R2_PATH: '/srv/r2',
  WALFLOW_STORE_B2_TYPE: 'fs',
  WALFLOW_STORE_B2_PATH: '/srv/b2',
};

describe('cluster policy', () => {
  test('an input without a policy, or with part of one, takes the defaults for the rest', () => {
    assert.deepEqual(resolvePolicy(), {
      retention: { days: 30, minBackups: 1, storeDays: {} },
      drill: { checkQuery: 'SELECT count(*) AS tables FROM pg_class' },
      alerts: {
        spoolAgeMs: 15 * 60_000,
        backupAgeMs: 36 * 3_600_000,
        hostSilentMs: 5 * 60_000,
        archiveStaleMs: 15 * 60_000,
      },
    });
    const p = resolvePolicy({ retention: { days: 7 }, drill: { hostId: 'db2' } });
    assert.deepEqual(p.retention, { days: 7, minBackups: 1, storeDays: {} });
    assert.equal(p.drill.hostId, 'db2');
  });

  test("settings give the same policy as the defaults when unset, and drills default to the applier's host", () => {
    const policy = policyOf(loadConfig(base));
    assert.deepEqual(policy, { ...resolvePolicy(), drill: { ...resolvePolicy().drill, hostId: 'db1' } });
    const set = loadConfig({
      ...base,
      WALFLOW_RETENTION_DAYS: '7',
      WALFLOW_STORE_B2_RETENTION_DAYS: '3',
      WALFLOW_BACKUP_EVERY: '12h',
    }).policy;
    assert.deepEqual(set.retention, { days: 7, minBackups: 1, storeDays: { b2: 3 } });
    assert.equal(set.alerts.backupAgeMs, 18 * 3_600_000, 'backup-missing after 1.5 backup intervals');
  });

  test('differences name the setting and both values; an unset drill host has no opinion', () => {
    const cluster = loadConfig({
      ...base,
      WALFLOW_RETENTION_DAYS: '1',
      WALFLOW_STORE_B2_RETENTION_DAYS: '3',
      WALFLOW_DRILL_HOST: 'db9',
    }).policy;
    const here = loadConfig({
      ...base,
      WALFLOW_HOST_ID: 'db2',
      WALFLOW_RETENTION_DAYS: '20',
      WALFLOW_ALERT_SPOOL_AGE: '1m',
    }).policy;
    assert.deepEqual(policyDifferences(here, cluster), [
      { setting: 'WALFLOW_RETENTION_DAYS', here: 20, cluster: 1 },
      { setting: 'WALFLOW_STORE_B2_RETENTION_DAYS', here: 20, cluster: 3 },
      { setting: 'WALFLOW_ALERT_SPOOL_AGE', here: 60_000, cluster: 15 * 60_000 },
    ]);
    assert.deepEqual(policyDifferences(cluster, cluster), []);
  });
});
