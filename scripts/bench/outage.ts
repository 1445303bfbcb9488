// How far the healthy store lags behind while the other is down: walflow archiving the source
// cluster under pgbench load, first with both S3 servers up, then with b2's stopped; per WAL
// file, the time from pg_switch_wal until r2 holds it (r2 polled every 20 ms). Then b2 comes
// back and must catch up on everything the spool kept for it.
import { Client } from 'pg';
import { pgBin, sleep } from '../../lib/devstack/procs';
import type { Stack } from '../../lib/devstack/stack';
import { Source, waitNoReady } from './segments';
import { log, median, msSince, now, pct, runAsPostgres } from './util';
import type { BenchEnv } from './walflow';

export interface OutageBench {
  loadSeconds: number;
  /** Seconds from pg_switch_wal until r2 holds the file, under load with b2 down. */
  healthyLagSeconds: number[];
  /** The same under the same load with both stores up. */
  bothUpLagSeconds: number[];
  /** From b2's return until the spool was empty (every file in both stores). */
  catchUpSeconds: number;
  storeCounts: Record<string, number>;
}

/** pgbench for `seconds`; meanwhile pg_switch_wal after pg_switch_wal, each timed until `store` holds it. */
async function lagsUnderLoad(src: Source, env: BenchEnv, store: string, seconds: number): Promise<number[]> {
  const conn = ['-h', '127.0.0.1', '-p', String(src.pg.port), '-U', 'postgres'];
  let loading = true;
  const load = runAsPostgres(pgBin('pgbench'), [
    ...conn,
    '-c',
    '2',
    '-j',
    '1',
    '-T',
    String(seconds),
    '-n',
    'postgres',
  ]);
  void load.finally(() => (loading = false));
  const r2 = env.stores.get(store)!;
  const db = new Client({ connectionString: src.pg.url });
  await db.connect();
  const lags: number[] = [];
  try {
    while (loading) {
      const t0 = now();
      const { rows } = await db.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name');
      const key = env.key(rows[0].name);
      while (!(await r2.head(key))) {
        if (msSince(t0) > 120_000) throw new Error(`outage: ${rows[0].name} not in ${store} 120 s after pg_switch_wal`);
        await sleep(20);
      }
      lags.push(msSince(t0) / 1000);
    }
  } finally {
    await db.end().catch(() => undefined);
  }
  const r = await load;
  if (r.code !== 0) throw new Error(`pgbench failed:\n${r.out}`);
  return lags;
}

/** Needs `env`'s worker running and the source archiving through it. */
export async function benchOutage(o: {
  stack: Stack;
  src: Source;
  env: BenchEnv;
  seconds: number;
}): Promise<OutageBench> {
  const { stack, src, env } = o;
  await waitNoReady(src, 120_000);
  await env.waitDrained(120_000);
  const bothUpLagSeconds = await lagsUnderLoad(src, env, 'r2', o.seconds);
  await waitNoReady(src, 120_000);
  await env.waitDrained(120_000);
  await stack.stop('b2');
  log(`outage: b2 stopped; pgbench for ${o.seconds} s`);
  let healthyLagSeconds: number[];
  try {
    healthyLagSeconds = await lagsUnderLoad(src, env, 'r2', o.seconds);
    await waitNoReady(src, 120_000);
  } finally {
    await stack.start('b2');
  }
  const t = now();
  await env.waitDrained(300_000);
  const catchUpSeconds = msSince(t) / 1000;
  const storeCounts = await env.storeCounts();
  if (storeCounts.r2 !== storeCounts.b2)
    throw new Error(`outage: after b2's return the stores differ: ${JSON.stringify(storeCounts)}`);
  log(
    `outage: ${healthyLagSeconds.length} switches while b2 was down; r2 held each after p50 ${median(healthyLagSeconds).toFixed(2)} s, ` +
      `p99 ${pct(healthyLagSeconds, 99).toFixed(2)} s (both up, same load: p50 ${median(bothUpLagSeconds).toFixed(2)} s); ` +
      `b2 caught up in ${catchUpSeconds.toFixed(1)} s`,
  );
  return { loadSeconds: o.seconds, healthyLagSeconds, bothUpLagSeconds, catchUpSeconds, storeCounts };
}
