// The base-backup Schedule's input: incremental with a full one every WALFLOW_BACKUP_FULL_EVERY, or always full.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../lib/config';
import { backupScheduleId } from '../../lib/contracts';
import { clusterSchedules } from '../../workers/schedules';

const base = {
  WALFLOW_CLUSTER: 'main',
  WALFLOW_HOST_ID: 'db1',
  WALFLOW_SPOOL_DIR: '/var/spool/walflow',
  WALFLOW_CATALOG_URL: 'postgres://catalog/walflow',
  WALFLOW_PG_URL: 'postgres://postgres@db1/postgres',
  WALFLOW_STORES: 'r2',
  WALFLOW_STORE_R2_TYPE: 'fs',
  WALFLOW_STORE_R2_PATH: '/srv/r2',
};

function backupInput(env: Record<string, string>): Record<string, unknown> {
  const s = clusterSchedules(loadConfig(env)).find((x) => x.scheduleId === backupScheduleId('main'))!;
  assert.equal(s.action.type, 'startWorkflow');
  return (s.action as { args: Record<string, unknown>[] }).args[0];
}

test('WALFLOW_BACKUP_FULL_EVERY puts the full-backup interval into the Schedule; unset, every backup is full', () => {
  assert.deepEqual(backupInput(base), { cluster: 'main', hostId: 'db1' });
  assert.deepEqual(backupInput({ ...base, WALFLOW_BACKUP_FULL_EVERY: '7d' }), {
    cluster: 'main',
    hostId: 'db1',
    fullEveryMs: 7 * 86_400_000,
  });
});
