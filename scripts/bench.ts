// `npm run bench`: walflow against the alternatives on real WAL. Starts its own local stack
// (Temporal, two S3 servers, catalog) in a temp folder, makes real 16 MiB segments with pgbench,
// and measures push latency, compression (zstd vs gzip -9), end-to-end archive throughput to two
// S3 servers and to two folders, pgBackRest 2.45 archive-push to two folder repositories, and the
// time from pg_switch_wal until both stores hold the segment; then restore: a base backup, more
// real segments archived to the two S3 servers, `walflow restore --start` to the end of the archive
// (prefetch segments/s, time to a promoted cluster per phase), `walflow fetch` and pgBackRest
// archive-get one process per segment; then scale: verify and retention on a synthetic archive of
// many WAL objects in two folder stores (time, worker peak RSS, largest workflow payload).
// Prints one table, writes JSON. Every process it starts is stopped on success, failure and Ctrl-C.
//
//   npm run bench -- [--segments N (default 32, at least 16)] [--switches M (default 20)]
//                    [--restore-segments R (default 64; 0 skips the restore part)]
//                    [--scale-objects K (default 100000; 0 skips the scale part)] [--scale-only]
//                    [--json PATH] [--keep]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { chownToPostgres, readPid, sleep } from '../lib/devstack/procs';
import { Stack, stackDown, stackUp } from '../lib/devstack/stack';
import { cleanupUnder } from '../test/support/cleanup';
import { benchCodec, CodecFigures } from './bench/compression';
import { benchIndex } from './bench/walindex';
import { benchPgbackrest, pgbackrestVersion, PgbackrestResult } from './bench/pgbackrest';
import { benchRestore, RestoreBench } from './bench/restore';
import { generateSegments, startSource, Source } from './bench/segments';
import { benchScale, ScaleBench } from './bench/scale';
import { BenchEnv, WALFLOW } from './bench/walflow';
import { cpuDelta, cpuSnapshot, fmt, log, median, MiB, msSince, now, pct, running, sum } from './bench/util';

interface Options {
  segments: number;
  switches: number;
  restoreSegments: number;
  scaleObjects: number;
  scaleOnly: boolean;
  json?: string;
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    segments: Number(process.env.BENCH_SEGMENTS ?? 32),
    switches: Number(process.env.BENCH_SWITCHES ?? 20),
    restoreSegments: Number(process.env.BENCH_RESTORE_SEGMENTS ?? 64),
    scaleObjects: Number(process.env.BENCH_SCALE_OBJECTS ?? 100_000),
    scaleOnly: false,
    keep: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--segments') o.segments = Number(val());
    else if (a === '--switches') o.switches = Number(val());
    else if (a === '--restore-segments') o.restoreSegments = Number(val());
    else if (a === '--scale-objects') o.scaleObjects = Number(val());
    else if (a === '--scale-only') o.scaleOnly = true;
    else if (a === '--json') o.json = path.resolve(val());
    else if (a === '--keep') o.keep = true;
    else
      throw new Error(
        `unknown argument ${a}; use --segments N, --switches M, --restore-segments R, --scale-objects K, --scale-only, --json PATH, --keep`,
      );
  }
  if (!Number.isInteger(o.segments) || o.segments < 16) throw new Error('--segments must be an integer of at least 16');
  if (!Number.isInteger(o.switches) || o.switches < 3) throw new Error('--switches must be an integer of at least 3');
  if (!Number.isInteger(o.restoreSegments) || (o.restoreSegments !== 0 && o.restoreSegments < 16))
    throw new Error('--restore-segments must be 0 (skip) or an integer of at least 16');
  if (!Number.isInteger(o.scaleObjects) || (o.scaleObjects !== 0 && o.scaleObjects < 100))
    throw new Error('--scale-objects must be 0 (skip) or an integer of at least 100');
  if (o.scaleOnly && !o.scaleObjects) throw new Error('--scale-only needs --scale-objects above 0');
  return o;
}

interface Throughput {
  segments: number;
  ms: number;
  segPerSec: number;
  mbPerSec: number;
  workerStartMs: number;
  storeCounts: Record<string, number>;
  /** Where the CPU went meanwhile: a 2-CPU machine runs Temporal, the worker and the S3 servers at once. */
  cpu: { machineBusyPct: number; cpuSeconds: Record<string, number> };
}

/** Worker running, spool empty; then the spool fills with every segment at once; until it is empty again. */
async function endToEnd(stack: Stack, env: BenchEnv, segments: string[]): Promise<Throughput> {
  const workerStartMs = await env.startWorker();
  await sleep(1000); // let the first (client-less) rescan and schedule set-up pass
  const pids = {
    worker: env.workerPidNumber,
    temporal: readPid(stack.pidFile('temporal')),
    'versitygw r2': readPid(stack.pidFile('r2')),
    'versitygw b2': readPid(stack.pidFile('b2')),
  };
  const cpu0 = cpuSnapshot(pids);
  const { t0, count } = env.releaseStaging();
  if (count !== segments.length) throw new Error(`${env.name}: ${count} staged files, expected ${segments.length}`);
  await env.waitDrained(240_000);
  const ms = msSince(t0);
  const cpu = cpuDelta(cpu0, cpuSnapshot(pids));
  const storeCounts = await env.storeCounts();
  for (const [store, n] of Object.entries(storeCounts)) {
    if (n !== segments.length)
      throw new Error(`${env.name}: store ${store} holds ${n} segments, expected ${segments.length}`);
  }
  const raw = segments.length * 16 * MiB;
  const r = {
    segments: segments.length,
    ms,
    segPerSec: segments.length / (ms / 1000),
    mbPerSec: raw / MiB / (ms / 1000),
    workerStartMs,
    storeCounts,
    cpu,
  };
  log(
    `${env.name}: ${count} segments to ${Object.keys(storeCounts).join('+')} in ${(ms / 1000).toFixed(2)} s = ${r.segPerSec.toFixed(2)} segments/s; ` +
      `machine ${cpu.machineBusyPct}% busy, CPU s: ${Object.entries(cpu.cpuSeconds)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
  );
  return r;
}

function pushAll(env: BenchEnv, segments: string[]): number[] {
  const ms = segments.map((s) => env.push(s));
  log(`${env.name}: push p50 ${median(ms).toFixed(1)} ms, p99 ${pct(ms, 99).toFixed(1)} ms over ${ms.length} segments`);
  return ms;
}

interface SwitchLatency {
  seconds: number[];
  perStore: Record<string, number[]>;
  segments: string[];
}

/** Live: archive_command = walflow push, worker running; rows, pg_switch_wal, HEAD both stores every 20 ms. */
async function switchLatency(src: Source, env: BenchEnv, switches: number): Promise<SwitchLatency> {
  const db = new Client({ connectionString: src.pg.url });
  await db.connect();
  try {
    // Let the copy-to-folder archiver finish its backlog, then archive through walflow.
    for (let i = 0; ; i++) {
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'`,
      );
      if (rows[0].n === 0) break;
      if (i > 600) throw new Error('the source cluster did not finish archiving its backlog');
      await sleep(100);
    }
    await db.query(`ALTER SYSTEM SET archive_command = '${WALFLOW} push %p %f --env-file ${env.envFile}'`);
    await db.query('SELECT pg_reload_conf()');
    await db.query(
      'CREATE TABLE IF NOT EXISTS bench_live (id bigserial PRIMARY KEY, at timestamptz DEFAULT clock_timestamp(), note text)',
    );
    const out: SwitchLatency = {
      seconds: [],
      perStore: Object.fromEntries([...env.stores.keys()].map((s) => [s, []])),
      segments: [],
    };
    for (let i = -1; i < switches; i++) {
      // i = -1: warm-up, not counted
      await db.query(`INSERT INTO bench_live (note) SELECT md5(g::text) FROM generate_series(1, 2000) g`);
      const t0 = now();
      const { rows } = await db.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name');
      const key = env.key(rows[0].name);
      const seen = new Map<string, number>();
      while (seen.size < env.stores.size) {
        if (msSince(t0) > 60_000)
          throw new Error(
            `${rows[0].name} not in every store 60 s after pg_switch_wal (have: ${[...seen.keys()].join(', ') || 'none'})`,
          );
        await Promise.all(
          [...env.stores].map(async ([name, store]) => {
            if (seen.has(name)) return;
            if (await store.head(key)) seen.set(name, msSince(t0) / 1000);
          }),
        );
        if (seen.size < env.stores.size) await sleep(20);
      }
      if (i < 0) continue;
      const s = Math.max(...seen.values());
      out.seconds.push(s);
      out.segments.push(rows[0].name);
      for (const [name, v] of seen) out.perStore[name].push(v);
    }
    log(
      `switch -> both stores: p50 ${median(out.seconds).toFixed(3)} s, p99 ${pct(out.seconds, 99).toFixed(3)} s over ${switches}`,
    );
    return out;
  } finally {
    await db.end().catch(() => undefined);
  }
}

interface Row {
  metric: string;
  walflow: string;
  alternative: string;
  ratio: string;
}

function table(rows: Row[]): string {
  const head: Row = { metric: 'metric', walflow: 'walflow', alternative: 'alternative', ratio: 'ratio (walflow/alt)' };
  const all = [head, ...rows];
  const w = (k: keyof Row) => Math.max(...all.map((r) => r[k].length));
  const line = (r: Row) =>
    `| ${r.metric.padEnd(w('metric'))} | ${r.walflow.padStart(w('walflow'))} | ${r.alternative.padEnd(w('alternative'))} | ${r.ratio.padStart(w('ratio'))} |`;
  const sep = `|${'-'.repeat(w('metric') + 2)}|${'-'.repeat(w('walflow') + 2)}|${'-'.repeat(w('alternative') + 2)}|${'-'.repeat(w('ratio') + 2)}|`;
  return [line(head), sep, ...rows.map(line)].join('\n');
}

function restoreRows(r: RestoreBench, pgbrName: string): Row[] {
  const get = r.pgbackrest?.archiveGet;
  const getSps = get ? get.segPerSec : NaN;
  const getP50 = get ? median(get.latenciesMs) : NaN;
  const getName = get ? `pgBackRest archive-get, 1 process/segment, folder repo` : pgbrName;
  const pf = r.restore.prefetch;
  const phase = (name: string) => r.restore.phases.find((p) => p.phase === name);
  return [
    {
      metric: `restore prefetch (parallel), WAL files/s`,
      walflow: fmt(pf.segPerSec, 2),
      alternative: `${fmt(getSps, 2)}  ${getName}`,
      ratio: ratio(pf.segPerSec, getSps),
    },
    {
      metric: 'restore prefetch, MB/s of WAL',
      walflow: fmt(pf.bytes / MiB / pf.seconds),
      alternative: `${fmt(getSps * 16)}  ${getName}`,
      ratio: ratio(pf.bytes / MiB / pf.seconds, getSps * 16),
    },
    {
      metric: 'restore_command back to back, segments/s',
      walflow: fmt(r.fetch.segPerSec, 2),
      alternative: `${fmt(getSps, 2)}  ${getName}`,
      ratio: ratio(r.fetch.segPerSec, getSps),
    },
    {
      metric: 'restore_command p50, ms (lower is better)',
      walflow: fmt(median(r.fetch.latenciesMs)),
      alternative: `${fmt(getP50)}  ${getName}`,
      ratio: ratio(median(r.fetch.latenciesMs), getP50),
    },
    {
      metric: 'restore_command p99, ms (lower is better)',
      walflow: fmt(pct(r.fetch.latenciesMs, 99)),
      alternative: `${fmt(get ? pct(get.latenciesMs, 99) : NaN)}  ${getName}`,
      ratio: ratio(pct(r.fetch.latenciesMs, 99), get ? pct(get.latenciesMs, 99) : NaN),
    },
    {
      metric: 'CPU seconds per segment, prefetch (worker)',
      walflow: fmt((pf.cpu?.cpuSeconds.worker ?? NaN) / pf.segments, 3),
      alternative: `${fmt(get ? get.cpuSecondsPerSegment : NaN, 3)}  ${getName}`,
      ratio: ratio((pf.cpu?.cpuSeconds.worker ?? NaN) / pf.segments, get ? get.cpuSecondsPerSegment : NaN),
    },
    {
      metric: 'CPU seconds per segment, restore_command',
      walflow: fmt(r.fetch.cpuSecondsPerSegment, 3),
      alternative: `${fmt(get ? get.cpuSecondsPerSegment : NaN, 3)}  ${getName}`,
      ratio: ratio(r.fetch.cpuSecondsPerSegment, get ? get.cpuSecondsPerSegment : NaN),
    },
    {
      metric: `base backup (walflow backup --wait), s`,
      walflow: fmt(r.backup.seconds),
      alternative: `${fmt(r.backup.rawMiB, 0)} MiB raw`,
      ratio: '-',
    },
    {
      metric: `restore --start to promoted, s (${pf.segments} WAL files)`,
      walflow: fmt(r.restore.wallSeconds),
      alternative: `${fmt(r.restore.workflowSeconds)}  workflow start to catalog row`,
      ratio: '-',
    },
    ...['check', 'choose', 'download', 'plan', 'prefetch', 'configure', 'recover']
      .filter((n) => phase(n))
      .map((n) => {
        const p = phase(n)!;
        const what = p.bytes
          ? `${fmt(p.bytes / MiB, 0)} MiB`
          : p.segments !== undefined
            ? `${p.segments} WAL files`
            : '';
        return {
          metric: `  restore phase ${n}, s`,
          walflow: fmt(p.seconds ?? NaN, 2),
          alternative: what || '-',
          ratio: '-',
        };
      }),
  ];
}

function scaleRows(scale: ScaleBench): Row[] {
  return scale.steps.map((st) => ({
    metric: `${st.step}, ${scale.objects} WAL objects x 2 stores`,
    walflow: `${fmt(st.seconds)} s, worker peak ${fmt(st.workerPeakRssMiB, 0)} MiB`,
    alternative: `largest payload ${st.largestPayloadBytes} B; ${st.detail}`,
    ratio: '-',
  }));
}

const ratio = (a: number, b: number) =>
  Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}x` : '-';

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'walflow-bench-'));
  fs.chmodSync(dir, 0o755);
  const jsonOut =
    opts.json ?? path.join(os.tmpdir(), `walflow-bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  let ok = false;
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const pid of running) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          /* gone */
        }
      }
      await cleanupUnder(dir);
      await stackDown(dir).catch(() => undefined);
      if (ok && !opts.keep) fs.rmSync(dir, { recursive: true, force: true });
      else process.stderr.write(`bench: stack folder kept for inspection: ${dir}\n`);
    })());
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      log(`${sig}: stopping everything the bench started`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  const loadStart = os.loadavg()[0];
  if (loadStart > os.cpus().length * 0.5)
    log(
      `warning: the machine is already busy (load ${loadStart.toFixed(2)} on ${os.cpus().length} CPUs); figures will be noisy`,
    );
  try {
    log(`stack in ${dir}`);
    let t = Date.now();
    if (opts.scaleOnly) {
      const stack = await stackUp({ dir, cluster: 'bench-unused', worker: false });
      const scale = await benchScale({ stack, dir, objects: opts.scaleObjects });
      const json = JSON.stringify({ when: new Date().toISOString(), scale }, null, 2);
      fs.writeFileSync(jsonOut, json);
      process.stdout.write(`\nwalflow bench, scale part only\n\n${table(scaleRows(scale))}\n\nfigures: ${jsonOut}\n`);
      ok = true;
      return 0;
    }
    const [stack, src] = await Promise.all([
      stackUp({ dir, cluster: 'bench-unused', worker: false }),
      startSource(dir),
    ]);
    log(`stack and source PostgreSQL up in ${((Date.now() - t) / 1000).toFixed(1)} s`);

    t = Date.now();
    const segments = await generateSegments(src, opts.segments);
    const n = segments.length;
    log(
      `${n} segments from pgbench in ${((Date.now() - t) / 1000).toFixed(1)} s (${path.basename(segments[0])} .. ${path.basename(segments[n - 1])})`,
    );

    // 2. Compression, in this process, with walflow's codec table.
    const zstd = await benchCodec('zstd', segments, 60_000);
    const gzip9: CodecFigures = await benchCodec('gzip:9', segments, 45_000);
    const walIndex = await benchIndex(segments, 30_000);

    // 1 + 3. Push into fresh spools (no worker), then archive end to end: two S3 servers, two folders.
    const s3 = new BenchEnv(stack, 'bench-s3');
    const fsDir = path.join(dir, 'fs-stores');
    const fsEnv = new BenchEnv(stack, 'bench-fs', {
      WALFLOW_STORES: 'a,b',
      WALFLOW_STORE_A_TYPE: 'fs',
      WALFLOW_STORE_A_PATH: path.join(fsDir, 'a'),
      WALFLOW_STORE_B_TYPE: 'fs',
      WALFLOW_STORE_B_PATH: path.join(fsDir, 'b'),
    });
    for (const d of [fsDir, path.join(fsDir, 'a'), path.join(fsDir, 'b')]) {
      fs.mkdirSync(d, { recursive: true });
    }
    chownToPostgres(fsDir, path.join(fsDir, 'a'), path.join(fsDir, 'b'));

    const pushS3 = pushAll(s3, segments);
    const pushFs = pushAll(fsEnv, segments);
    const pushMs = [...pushS3, ...pushFs];

    const e2eS3 = await endToEnd(stack, s3, segments); // the S3 worker stays up for the live run
    const e2eFs = await endToEnd(stack, fsEnv, segments);
    await fsEnv.stopWorker();

    // 4. pgBackRest archive-push to two folder repositories.
    let pgbr: PgbackrestResult | undefined;
    let pgbrSkipped: string | undefined;
    if (!pgbackrestVersion()) {
      pgbrSkipped = 'pgbackrest is not installed';
      log(`${pgbrSkipped}: skipping its comparison`);
    } else {
      pgbr = benchPgbackrest({ dir, pgData: src.pg.data, pgPort: src.pg.port, pgSocketDir: src.pg.runDir, segments });
      if (pgbr.repoCounts.some((c) => c !== n))
        throw new Error(`pgBackRest repositories hold ${pgbr.repoCounts.join(' and ')} segments, expected ${n}`);
      log(
        `${pgbr.version}: ${n} segments in ${(pgbr.totalMs / 1000).toFixed(2)} s, archive-push p50 ${median(pgbr.latenciesMs).toFixed(1)} ms`,
      );
    }

    // 5. pg_switch_wal -> both S3 stores, live.
    const live = await switchLatency(src, s3, opts.switches);
    await s3.stopWorker();

    // 6. Restore: base backup, more WAL to the two S3 servers, restore --start, fetch vs archive-get.
    let rst: RestoreBench | undefined;
    if (opts.restoreSegments > 0)
      rst = await benchRestore({ stack, src, dir, segments: opts.restoreSegments, pgbackrestConf: pgbr?.conf });

    // 7. Scale: verify and retention on a synthetic archive of many small WAL objects.
    const scale = opts.scaleObjects > 0 ? await benchScale({ stack, dir, objects: opts.scaleObjects }) : undefined;

    // Figures and table.
    const pgbrSegPerSec = pgbr ? n / (pgbr.totalMs / 1000) : NaN;
    const pgbrP50 = pgbr ? median(pgbr.latenciesMs) : NaN;
    const pgbrP99 = pgbr ? pct(pgbr.latenciesMs, 99) : NaN;
    const pushSegPerSec = pushS3.length / (sum(pushS3) / 1000);
    const zMb = median(zstd.mbPerSec),
      gMb = median(gzip9.mbPerSec);
    const zRatio = zstd.rawBytes / zstd.storedBytes,
      gRatio = gzip9.rawBytes / gzip9.storedBytes;
    const pgbrName = pgbr ? 'pgBackRest archive-push' : `pgBackRest: skipped (${pgbrSkipped})`;
    // walflow's worker and Temporal (the S3 servers are not part of the folder run).
    const cpuPerSeg = (t: Throughput) =>
      ((t.cpu.cpuSeconds.worker ?? NaN) + (t.cpu.cpuSeconds.temporal ?? NaN)) / t.segments;
    const rows: Row[] = [
      {
        metric: 'archive_command p50, ms (lower is better)',
        walflow: fmt(median(pushMs)),
        alternative: `${fmt(pgbrP50)}  ${pgbrName} (zst, 2 repos)`,
        ratio: ratio(median(pushMs), pgbrP50),
      },
      {
        metric: 'archive_command p99, ms (lower is better)',
        walflow: fmt(pct(pushMs, 99)),
        alternative: `${fmt(pgbrP99)}  ${pgbrName}`,
        ratio: ratio(pct(pushMs, 99), pgbrP99),
      },
      {
        metric: 'archive_command back to back, segments/s',
        walflow: fmt(pushSegPerSec, 2),
        alternative: `${fmt(pgbrSegPerSec, 2)}  ${pgbrName}`,
        ratio: ratio(pushSegPerSec, pgbrSegPerSec),
      },
      {
        metric: 'compression speed, MB/s per segment (p50)',
        walflow: `${fmt(zMb)} zstd-3`,
        alternative: `${fmt(gMb)}  gzip -9 (old design)`,
        ratio: ratio(zMb, gMb),
      },
      {
        metric: 'compression time per segment p50, ms',
        walflow: fmt(median(zstd.ms)),
        alternative: `${fmt(median(gzip9.ms))}  gzip -9`,
        ratio: ratio(median(zstd.ms), median(gzip9.ms)),
      },
      {
        metric: 'compression ratio raw/stored (higher is better)',
        walflow: fmt(zRatio, 2),
        alternative: `${fmt(gRatio, 2)}  gzip -9`,
        ratio: ratio(zRatio, gRatio),
      },
      {
        metric: 'segment index per segment p50, ms (aim: < 20% of staging)',
        walflow: `${fmt(median(walIndex.indexMs), 2)} (${fmt(median(walIndex.share) * 100)}% of staging)`,
        alternative: `${fmt(median(walIndex.stagingMs))}  SHA-256 + zstd-3 of the same segment`,
        ratio: '-',
      },
      {
        metric: 'archive to 2 folders, segments/s',
        walflow: fmt(e2eFs.segPerSec, 2),
        alternative: `${fmt(pgbrSegPerSec, 2)}  ${pgbrName}, 1 process/segment`,
        ratio: ratio(e2eFs.segPerSec, pgbrSegPerSec),
      },
      {
        metric: 'archive to 2 folders, MB/s of WAL',
        walflow: fmt(e2eFs.mbPerSec),
        alternative: `${fmt(pgbr ? pgbrSegPerSec * 16 : NaN)}  ${pgbrName}`,
        ratio: ratio(e2eFs.mbPerSec, pgbrSegPerSec * 16),
      },
      {
        metric: 'CPU seconds per segment, 2 folders',
        walflow: fmt(cpuPerSeg(e2eFs), 3),
        alternative: `${fmt(pgbr ? pgbr.cpuSeconds / n : NaN, 3)}  ${pgbrName}`,
        ratio: ratio(cpuPerSeg(e2eFs), pgbr ? pgbr.cpuSeconds / n : NaN),
      },
      {
        metric: 'archive to 2 S3 servers, segments/s',
        walflow: fmt(e2eS3.segPerSec, 2),
        alternative: `${fmt(e2eFs.segPerSec, 2)}  walflow to 2 folders`,
        ratio: ratio(e2eS3.segPerSec, e2eFs.segPerSec),
      },
      {
        metric: 'pg_switch_wal -> both S3 stores p50, s',
        walflow: fmt(median(live.seconds), 3),
        alternative: '-',
        ratio: '-',
      },
      {
        metric: 'pg_switch_wal -> both S3 stores p99, s',
        walflow: fmt(pct(live.seconds, 99), 3),
        alternative: '-',
        ratio: '-',
      },
    ];
    if (rst) rows.push(...restoreRows(rst, pgbr ? pgbr.version : `pgBackRest: skipped (${pgbrSkipped})`));
    if (scale) rows.push(...scaleRows(scale));
    await (await import('./bench/encryption')).benchEncryption(segments, 30_000);
    const totalS = (Date.now() - started) / 1000;
    const figures = {
      when: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length,
        cpu: os.cpus()[0]?.model,
        node: process.version,
        memGiB: Math.round(os.totalmem() / 2 ** 30),
        loadAvg1Start: loadStart,
        loadAvg1End: os.loadavg()[0],
      },
      segments: { count: n, names: segments.map((s) => path.basename(s)), bytesEach: 16 * MiB },
      push: { p50Ms: median(pushMs), p99Ms: pct(pushMs, 99), maxMs: Math.max(...pushMs), samplesMs: pushMs },
      compression: {
        zstd: { ...zstd, p50MBps: zMb, ratio: zRatio },
        gzip9: { ...gzip9, p50MBps: gMb, ratio: gRatio },
        speedRatioZstdOverGzip9: zMb / gMb,
      },
      segmentIndex: { ...walIndex, p50Ms: median(walIndex.indexMs), p50Share: median(walIndex.share) },
      endToEnd: { s3: e2eS3, fs: e2eFs },
      pgbackrest: pgbr
        ? {
            ...pgbr,
            segPerSec: pgbrSegPerSec,
            p50Ms: pgbrP50,
            p99Ms: pgbrP99,
            walflowFsOverPgbackrest: e2eFs.segPerSec / pgbrSegPerSec,
            walflowS3OverPgbackrest: e2eS3.segPerSec / pgbrSegPerSec,
          }
        : { skipped: pgbrSkipped },
      restore: rst
        ? {
            ...rst,
            fetch: { ...rst.fetch, p50Ms: median(rst.fetch.latenciesMs), p99Ms: pct(rst.fetch.latenciesMs, 99) },
            ratios: rst.pgbackrest
              ? {
                  prefetchOverArchiveGet: rst.restore.prefetch.segPerSec / rst.pgbackrest.archiveGet.segPerSec,
                  fetchOverArchiveGet: rst.fetch.segPerSec / rst.pgbackrest.archiveGet.segPerSec,
                }
              : undefined,
          }
        : { skipped: '--restore-segments 0' },
      scale: scale ?? { skipped: '--scale-objects 0' },
      switchToStores: {
        p50S: median(live.seconds),
        p99S: pct(live.seconds, 99),
        maxS: Math.max(...live.seconds),
        ...live,
      },
      table: rows,
      totalSeconds: totalS,
    };
    const json = JSON.stringify(figures, null, 2);
    fs.writeFileSync(path.join(dir, 'bench.json'), json);
    fs.mkdirSync(path.dirname(jsonOut), { recursive: true });
    fs.writeFileSync(jsonOut, json);

    process.stdout.write(
      `\nwalflow bench: ${n} real 16 MiB segments from pgbench, ${os.cpus().length} CPUs, Node ${process.version}` +
        `${pgbr ? `, ${pgbr.version}` : ''}, ${opts.switches} live switches, ${totalS.toFixed(0)} s in all` +
        `${rst ? `, restore on ${rst.segments.length} more` : ''}, load ${loadStart.toFixed(1)} -> ${os.loadavg()[0].toFixed(1)}\n\n`,
    );
    process.stdout.write(table(rows) + '\n\n');
    process.stdout.write(
      [
        'archive_command: walflow push only spools (copy + fsync; compression and uploads happen later in the worker);',
        '  pgBackRest archive-push compresses and writes both repositories before it returns.',
        'archive to 2 folders/S3: walflow from a spool full of all segments (worker running) until both stores hold every',
        '  one and the spool is empty; pgBackRest: the same segments, one archive-push after another, as PostgreSQL calls it.',
        'CPU seconds: walflow worker + Temporal dev server during the folder run (push excluded); pgBackRest: its archive-push processes.',
        ...(rst
          ? [
              'restore: a base backup (walflow backup --wait), then the restore segments (pgbench rounds beside bulk UPDATEs of a',
              "  400k-row table) archived by walflow to the 2 S3 servers; walflow restore --start --wait to the end of the archive, figures from the catalog's runs row. prefetch:",
              "  the workflow's prefetch phase (4 downloads at a time, verify, decompress, fsync into the prefetch folder), every WAL",
              '  file since the backup. fetch / archive-get: one process per segment in order, as restore_command is called;',
              '  walflow fetch reads the S3 servers (no prefetch folder), pgBackRest archive-get its first folder repository.',
              'CPU seconds per segment: prefetch = the walflow worker during the prefetch phase (sampled every 250 ms);',
              '  restore_command = the fetch / archive-get processes themselves (the S3 servers they read from not included).',
            ]
          : []),
        ...(scale
          ? [
              `scale: ${scale.objects} synthetic WAL objects (a few hundred bytes, valid metadata) in each of 2 folder stores, half of them`,
              "  older than every kept backup; each step is one walflow command; peak RSS is the worker's (VmHWM, reset before the step);",
              "  the payload is the largest one in that run's workflow history.",
            ]
          : []),
        `figures: ${jsonOut}`,
      ].join('\n') + '\n',
    );
    ok = true;
    return 0;
  } catch (e) {
    process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
