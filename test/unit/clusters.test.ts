// The clusters one worker serves (WALFLOW_ENV_FILES), and the queue, memo and search
// attributes every workflow start gets.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { loadClusterConfigs } from '../../lib/clusterconfigs';
import { UserError } from '../../lib/errors';
import { startOptions } from '../../lib/workflowstart';

const shared = { TEMPORAL_ADDRESS: 'temporal:7233', WALFLOW_CATALOG_URL: 'postgres://catalog/walflow' };
const cluster = (name: string, extra: Record<string, string> = {}) =>
  Object.entries({
    WALFLOW_CLUSTER: name,
    WALFLOW_HOST_ID: 'db1',
    WALFLOW_SPOOL_DIR: `/var/spool/${name}`,
    WALFLOW_STORES: 'local',
    WALFLOW_STORE_LOCAL_TYPE: 'fs',
    WALFLOW_STORE_LOCAL_PATH: `/srv/${name}`,
    ...extra,
  })
    .map(([k, v]) => `${k}=${v}\n`)
    .join('');

function folder(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'walflow-clusters-'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

describe('clusters a worker serves', () => {
  test('without WALFLOW_ENV_FILES: the one the environment describes', () => {
    const configs = loadClusterConfigs({ ...shared, ...Object.fromEntries(lines(cluster('main'))) });
    assert.deepEqual(
      configs.map((c) => c.cluster),
      ['main'],
    );
  });

  test('a list of files and a folder of *.env: each file on top of the environment', () => {
    const dir = folder({
      'a.env': cluster('alpha'),
      'b.env': cluster('beta', { WALFLOW_RETENTION_DAYS: '7' }),
      x: 'junk',
    });
    const fromList = loadClusterConfigs({ ...shared, WALFLOW_ENV_FILES: `${dir}/a.env, ${dir}/b.env` });
    const fromFolder = loadClusterConfigs({ ...shared, WALFLOW_ENV_FILES: dir });
    for (const configs of [fromList, fromFolder]) {
      assert.deepEqual(
        configs.map((c) => [c.cluster, c.spoolDir, c.policy.retention.days, c.temporalAddress]),
        [
          ['alpha', '/var/spool/alpha', 30, 'temporal:7233'],
          ['beta', '/var/spool/beta', 7, 'temporal:7233'],
        ],
      );
      assert.deepEqual(configs[1].stores, [{ type: 'fs', name: 'local', path: '/srv/beta' }]);
    }
  });

  test('two files for one cluster, another namespace, a missing file: one-line errors naming the file', () => {
    const dir = folder({
      'a.env': cluster('alpha'),
      'again.env': cluster('alpha'),
      'other.env': cluster('gamma', { TEMPORAL_NAMESPACE: 'elsewhere' }),
    });
    const fails = (files: string, message: RegExp) =>
      assert.throws(
        () => loadClusterConfigs({ ...shared, WALFLOW_ENV_FILES: files }),
        (e: Error) => e instanceof UserError && message.test(e.message) && !e.message.includes('\n'),
      );
    fails(`${dir}/a.env,${dir}/again.env`, /both serve cluster alpha: one file per cluster/);
    fails(`${dir}/a.env,${dir}/other.env`, /other\.env names Temporal temporal:7233\/elsewhere/);
    fails(`${dir}/a.env,${dir}/none.env`, /cannot read .*none\.env: ENOENT/);
    fails(folder({}), /names no env file/);
  });
});

describe('workflow starts', () => {
  test("the cluster's queue, or its host's; memo and search attributes say what the run is about", () => {
    const sweep = startOptions({ kind: 'archive-sweep', cluster: 'main', host: 'db1', workflowId: 's' });
    assert.equal(sweep.taskQueue, 'walflow-cluster-main');
    const archive = startOptions({
      kind: 'archive',
      cluster: 'main',
      host: 'db1',
      object: '000000010000000000000001',
      onHost: true,
      workflowId: 'archive/main/000000010000000000000001',
      memo: { file: '000000010000000000000001' },
    });
    assert.equal(archive.taskQueue, 'walflow-cluster-main/host-db1');
    assert.deepEqual(archive.memo, { cluster: 'main', host: 'db1', file: '000000010000000000000001' });
    assert.deepEqual(
      archive.typedSearchAttributes.map((p) => [p.key.name, p.value]),
      [
        ['WalflowCluster', 'main'],
        ['WalflowKind', 'archive'],
        ['WalflowHost', 'db1'],
        ['WalflowObject', '000000010000000000000001'],
      ],
    );
    assert.throws(
      () => startOptions({ kind: 'archive', cluster: 'main', onHost: true, workflowId: 'x' }),
      /name the host/,
    );
  });
});

function lines(text: string): [string, string][] {
  return text
    .trim()
    .split('\n')
    .map((l) => l.split('=', 2) as [string, string]);
}
