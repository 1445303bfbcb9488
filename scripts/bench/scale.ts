// walflow on an archive of many WAL objects (test/support/synthetic.ts: small objects with valid
// metadata, written straight into two folder stores): verify, the retention dry run, the real
// prune and a restore's planning (`restore --plan-only`), each timed, with the worker's peak
// RSS during it and the largest payload in the run's history, which must not grow with the count.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Stack } from '../../lib/devstack/stack';
import { largestPayload, workflowIds } from '../../test/support/history';
import { syntheticArchive, writeSyntheticArchive } from '../../test/support/synthetic';
import { BenchEnv, WALFLOW } from './walflow';
import { asPostgresOpts, log, peakRssMiB, resetPeakRss } from './util';

export interface ScaleStep {
  step: string;
  seconds: number;
  workerPeakRssMiB: number;
  largestPayloadBytes: number;
  detail: string;
}
export interface ScaleBench {
  objects: number;
  writeSeconds: number;
  steps: ScaleStep[];
}

export async function benchScale({
  stack,
  dir,
  objects,
}: {
  stack: Stack;
  dir: string;
  objects: number;
}): Promise<ScaleBench> {
  const storesDir = path.join(dir, 'scale-stores');
  for (const d of [storesDir, path.join(storesDir, 'a'), path.join(storesDir, 'b')])
    fs.mkdirSync(d, { recursive: true });
  const env = new BenchEnv(stack, 'bench-scale', {
    WALFLOW_STORES: 'a,b',
    WALFLOW_STORE_A_TYPE: 'fs',
    WALFLOW_STORE_A_PATH: path.join(storesDir, 'a'),
    WALFLOW_STORE_B_TYPE: 'fs',
    WALFLOW_STORE_B_PATH: path.join(storesDir, 'b'),
  });
  const archive = syntheticArchive(env.name, objects);
  const asOf = new Date();
  let t = Date.now();
  for (const store of env.stores.values()) await writeSyntheticArchive(store, archive, asOf, { concurrency: 32 });
  spawnSync('chown', ['-R', 'postgres:postgres', storesDir]);
  const writeSeconds = (Date.now() - t) / 1000;
  log(`scale: ${objects} WAL objects in each of 2 folder stores in ${writeSeconds.toFixed(1)} s`);

  await env.startWorker();
  const pid = env.workerPidNumber!;
  const connection = await Connection.connect({ address: env.config.temporalAddress });
  const client = new Client({ connection, namespace: env.config.temporalNamespace });
  const steps: ScaleStep[] = [];
  try {
    const step = async (name: string, type: string, args: string[], describe: (stdout: string) => string) => {
      const before = new Set(await workflowIds(client, type, env.name));
      resetPeakRss(pid);
      t = Date.now();
      const r = spawnSync(WALFLOW, [...args, '--env-file', env.envFile], {
        ...asPostgresOpts(),
        encoding: 'utf8',
        maxBuffer: 1 << 30,
      });
      const seconds = (Date.now() - t) / 1000;
      if (r.status !== 0)
        throw new Error(`scale: walflow ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
      const workerPeakRssMiB = peakRssMiB(pid);
      const id = (await workflowIds(client, type, env.name)).find((x) => !before.has(x));
      const largest = id ? await largestPayload(client, id) : { bytes: NaN, where: 'run not listed' };
      const s = {
        step: name,
        seconds,
        workerPeakRssMiB,
        largestPayloadBytes: largest.bytes,
        detail: describe(r.stdout),
      };
      log(
        `scale: ${name}: ${seconds.toFixed(1)} s, worker peak RSS ${workerPeakRssMiB.toFixed(0)} MiB, largest payload ${largest.bytes} bytes (${largest.where}); ${s.detail}`,
      );
      steps.push(s);
    };
    const prune = ['--as-of', asOf.toISOString(), '--retention-days', '30', '--min-backups', '1'];
    await step('verify', 'verify', ['verify', '--json'], (out) => {
      const r = JSON.parse(out) as { objects: number; problems: unknown[] };
      return `${r.objects} objects checked, ${r.problems.length} problem(s)`;
    });
    await step('retention dry run', 'retention', ['prune', '--dry-run', '--json', ...prune], (out) => {
      const r = JSON.parse(out) as { stores: { deletions: unknown[] }[] };
      return `${r.stores.map((s) => s.deletions.length).join(' + ')} deletions listed`;
    });
    await step(
      'retention (prune)',
      'retention',
      ['prune', '--json', ...prune],
      (out) => `${(JSON.parse(out) as { deleted: number }).deleted} objects deleted`,
    );
    // Restore planning reads the catalog, which the synthetic archive bypassed: rebuild it first.
    t = Date.now();
    const rebuilt = spawnSync(WALFLOW, ['catalog', 'rebuild', '--env-file', env.envFile], {
      ...asPostgresOpts(),
      encoding: 'utf8',
      maxBuffer: 1 << 30,
    });
    if (rebuilt.status !== 0)
      throw new Error(`scale: walflow catalog rebuild failed (${rebuilt.status}): ${rebuilt.stderr.slice(-2000)}`);
    log(`scale: catalog rebuilt from the pruned stores in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    await step(
      'restore plan (--plan-only)',
      'restore',
      ['restore', '--plan-only', '--wait'],
      (out) => `${/(\d+) WAL file\(s\)/.exec(out)?.[1] ?? '?'} WAL files planned`,
    );
  } finally {
    await connection.close();
    await env.stopWorker();
  }
  return { objects, writeSeconds, steps };
}
