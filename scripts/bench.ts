// `npm run bench`: walflow against pgBackRest on the same real WAL and the same two S3 servers.
// Starts its own local stack (Temporal, two S3 servers over HTTPS with a self-signed certificate
// both tools verify, catalog) in a temp folder and makes real 16 MiB segments with pgbench. Then,
// walflow / pgBackRest (async archive-push and archive-get, process-max 2, zstd 3): a backlog of
// the same segments until each is in both stores (throughput, CPU of every process involved,
// peak memory); pg_switch_wal until both stores hold the segment, idle; a restore's WAL
// throughput; base backups and the whole restore of the same database to a promoted cluster.
// Besides: push latency, compression (zstd vs gzip -9), how far the healthy store lags while
// the other S3 server is down under load, and optionally verify and retention at scale.
// Prints one table of ratios, writes JSON. Every process it starts is stopped on success,
// failure and Ctrl-C.
//
//   npm run bench -- [--segments N (default 64, at least 16)] [--switches M (default 20)]
//                    [--restore-segments R (default 64; 0 skips the restore part)]
//                    [--outage-seconds S (default 30; 0 skips the outage part)]
//                    [--scale-objects K (default 0: skipped)] [--scale-only]
//                    [--json PATH] [--keep]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { readPid, sleep } from '../lib/devstack/procs';
import { Stack, stackDown, stackUp } from '../lib/devstack/stack';
import { cleanupUnder } from '../test/support/cleanup';
import { benchCodec, CodecFigures } from './bench/compression';
import { benchIndex } from './bench/walindex';
import { Measured, Pgbackrest, pgbackrestVersion } from './bench/pgbackrest';
import { benchOutage, OutageBench } from './bench/outage';
import { benchRestore, RestoreBench } from './bench/restore';
import { generateSegments, startSource, Source, waitNoReady } from './bench/segments';
import { benchScale, ScaleBench } from './bench/scale';
import { BenchEnv, WALFLOW } from './bench/walflow';
import {
  cpuDelta,
  cpuSnapshot,
  fmt,
  log,
  median,
  MiB,
  msSince,
  now,
  pct,
  peakRssMiB,
  running,
  sum,
} from './bench/util';

interface Options {
  segments: number;
  switches: number;
  restoreSegments: number;
  outageSeconds: number;
  scaleObjects: number;
  scaleOnly: boolean;
  json?: string;
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    segments: Number(process.env.BENCH_SEGMENTS ?? 64),
    switches: Number(process.env.BENCH_SWITCHES ?? 20),
    restoreSegments: Number(process.env.BENCH_RESTORE_SEGMENTS ?? 64),
    outageSeconds: Number(process.env.BENCH_OUTAGE_SECONDS ?? 30),
    scaleObjects: Number(process.env.BENCH_SCALE_OBJECTS ?? 0),
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
    else if (a === '--outage-seconds') o.outageSeconds = Number(val());
    else if (a === '--scale-objects') o.scaleObjects = Number(val());
    else if (a === '--scale-only') o.scaleOnly = true;
    else if (a === '--json') o.json = path.resolve(val());
    else if (a === '--keep') o.keep = true;
    else
      throw new Error(
        `unknown argument ${a}; use --segments N, --switches M, --restore-segments R, --outage-seconds S, --scale-objects K, --scale-only, --json PATH, --keep`,
      );
  }
  if (!Number.isInteger(o.segments) || o.segments < 16) throw new Error('--segments must be an integer of at least 16');
  if (!Number.isInteger(o.switches) || o.switches < 3) throw new Error('--switches must be an integer of at least 3');
  if (!Number.isInteger(o.restoreSegments) || (o.restoreSegments !== 0 && o.restoreSegments < 16))
    throw new Error('--restore-segments must be 0 (skip) or an integer of at least 16');
  if (!Number.isInteger(o.outageSeconds) || (o.outageSeconds !== 0 && o.outageSeconds < 10))
    throw new Error('--outage-seconds must be 0 (skip) or an integer of at least 10');
  if (!Number.isInteger(o.scaleObjects) || (o.scaleObjects !== 0 && o.scaleObjects < 100))
    throw new Error('--scale-objects must be 0 (skip) or an integer of at least 100');
  if (o.scaleOnly && !o.scaleObjects) throw new Error('--scale-only needs --scale-objects above 0');
  return o;
}

type Cpu = { machineBusyPct: number; cpuSeconds: Record<string, number> };

interface Backlog {
  segments: number;
  ms: number;
  segPerSec: number;
  /** CPU seconds of the tool's own processes, all of them, per segment. */
  cpuPerSegment: number;
  /** The S3 servers' CPU seconds per segment meanwhile (the same servers for both tools). */
  s3CpuPerSegment: number;
  peakRssMiB: number;
  cpu: Cpu;
  /** pgBackRest: each archive-push call as PostgreSQL would wait for it. */
  latenciesMs?: number[];
}

const s3Pids = (stack: Stack) => ({
  'versitygw r2': readPid(stack.pidFile('r2')),
  'versitygw b2': readPid(stack.pidFile('b2')),
});
const s3Cpu = (c: Cpu) => (c.cpuSeconds['versitygw r2'] ?? NaN) + (c.cpuSeconds['versitygw b2'] ?? NaN);

function logBacklog(what: string, b: Backlog): void {
  log(
    `${what}: ${b.segments} segments in both stores in ${(b.ms / 1000).toFixed(2)} s = ${b.segPerSec.toFixed(2)} segments/s; ` +
      `${b.cpuPerSegment.toFixed(3)} CPU s/segment (S3 servers ${b.s3CpuPerSegment.toFixed(3)}), peak ${b.peakRssMiB.toFixed(0)} MiB; ` +
      `machine ${b.cpu.machineBusyPct}% busy, CPU s: ${Object.entries(b.cpu.cpuSeconds)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
  );
}

/**
 * walflow: the segments already pushed into a staging spool (push's CPU given); the worker
 * running; then the spool fills with every segment at once, until it is empty again (each
 * copy leaves only once both stores hold it). CPU: worker + Temporal + the push processes.
 */
async function walflowBacklog(stack: Stack, env: BenchEnv, segments: string[], pushCpu: number): Promise<Backlog> {
  await env.startWorker();
  await sleep(1000); // let the first (client-less) rescan and schedule set-up pass
  const pids = { worker: env.workerPidNumber, temporal: readPid(stack.pidFile('temporal')), ...s3Pids(stack) };
  const cpu0 = cpuSnapshot(pids);
  const { t0, count } = env.releaseStaging();
  if (count !== segments.length) throw new Error(`${env.name}: ${count} staged files, expected ${segments.length}`);
  await env.waitDrained(600_000);
  const ms = msSince(t0);
  const cpu = cpuDelta(cpu0, cpuSnapshot(pids));
  const storeCounts = await env.storeCounts();
  for (const [store, n] of Object.entries(storeCounts)) {
    if (n !== segments.length)
      throw new Error(`${env.name}: store ${store} holds ${n} segments, expected ${segments.length}`);
  }
  const n = segments.length;
  const b: Backlog = {
    segments: n,
    ms,
    segPerSec: n / (ms / 1000),
    cpuPerSegment: ((cpu.cpuSeconds.worker ?? NaN) + (cpu.cpuSeconds.temporal ?? NaN) + pushCpu) / n,
    s3CpuPerSegment: s3Cpu(cpu) / n,
    peakRssMiB: peakRssMiB(env.workerPidNumber!),
    cpu,
  };
  logBacklog('walflow backlog', b);
  return b;
}

/** pgBackRest: the same segments as a pg_wal backlog of .ready files, archive-push one after another. */
async function pgbackrestBacklog(stack: Stack, pgbr: Pgbackrest, segments: string[]): Promise<Backlog> {
  const pids = s3Pids(stack);
  const cpu0 = cpuSnapshot(pids);
  const m: Measured = await pgbr.archiveBacklog(segments);
  const cpu = cpuDelta(cpu0, cpuSnapshot(pids));
  const counts = await pgbr.counts(segments);
  if (counts.some((c) => c !== segments.length))
    throw new Error(`pgBackRest repositories hold ${counts.join(' and ')} segments, expected ${segments.length}`);
  const n = segments.length;
  const b: Backlog = {
    segments: n,
    ms: m.totalMs,
    segPerSec: n / (m.totalMs / 1000),
    cpuPerSegment: m.cpuSeconds / n,
    s3CpuPerSegment: s3Cpu(cpu) / n,
    peakRssMiB: m.peakRssMiB,
    cpu: { ...cpu, cpuSeconds: { ...cpu.cpuSeconds, pgbackrest: m.cpuSeconds } },
    latenciesMs: m.latenciesMs,
  };
  logBacklog(`${pgbr.version} backlog`, b);
  return b;
}

function pushAll(env: BenchEnv, segments: string[]): { ms: number[]; cpuSeconds: number } {
  const cpu0 = cpuSnapshot({ children: process.pid }); // each push is our waited-for child
  const ms = segments.map((s) => env.push(s));
  const cpuSeconds = cpuDelta(cpu0, cpuSnapshot({ children: process.pid })).cpuSeconds.children;
  log(`${env.name}: push p50 ${median(ms).toFixed(1)} ms, p99 ${pct(ms, 99).toFixed(1)} ms over ${ms.length} segments`);
  return { ms, cpuSeconds };
}

interface SwitchLatency {
  seconds: number[];
  perStore: Record<string, number[]>;
  segments: string[];
}

/**
 * Live and idle: archive_command set to the tool, then rows, pg_switch_wal, and every store
 * polled every 20 ms until each holds the segment.
 */
async function switchLatency(
  what: string,
  src: Source,
  archiveCommand: string,
  holds: Map<string, (segment: string) => Promise<boolean>>,
  switches: number,
): Promise<SwitchLatency> {
  await waitNoReady(src, 120_000); // the previous archive_command's backlog first
  const db = new Client({ connectionString: src.pg.url });
  await db.connect();
  try {
    await db.query(`ALTER SYSTEM SET archive_command = '${archiveCommand}'`);
    await db.query('SELECT pg_reload_conf()');
    await db.query(
      'CREATE TABLE IF NOT EXISTS bench_live (id bigserial PRIMARY KEY, at timestamptz DEFAULT clock_timestamp(), note text)',
    );
    const out: SwitchLatency = {
      seconds: [],
      perStore: Object.fromEntries([...holds.keys()].map((s) => [s, []])),
      segments: [],
    };
    for (let i = -1; i < switches; i++) {
      // i = -1: warm-up, not counted
      await db.query(`INSERT INTO bench_live (note) SELECT md5(g::text) FROM generate_series(1, 2000) g`);
      const t0 = now();
      const { rows } = await db.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name');
      const seg = rows[0].name;
      const seen = new Map<string, number>();
      while (seen.size < holds.size) {
        if (msSince(t0) > 60_000)
          throw new Error(
            `${what}: ${seg} not in every store 60 s after pg_switch_wal (have: ${[...seen.keys()].join(', ') || 'none'})`,
          );
        await Promise.all(
          [...holds].map(async ([name, has]) => {
            if (!seen.has(name) && (await has(seg))) seen.set(name, msSince(t0) / 1000);
          }),
        );
        if (seen.size < holds.size) await sleep(20);
      }
      if (i < 0) continue;
      out.seconds.push(Math.max(...seen.values()));
      out.segments.push(seg);
      for (const [name, v] of seen) out.perStore[name].push(v);
    }
    log(
      `${what}: switch -> both stores p50 ${median(out.seconds).toFixed(3)} s, p99 ${pct(out.seconds, 99).toFixed(3)} s over ${switches}`,
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
  const head: Row = { metric: 'metric', walflow: 'walflow', alternative: 'alternative', ratio: 'walflow/alt' };
  const all = [head, ...rows];
  const w = (k: keyof Row) => Math.max(...all.map((r) => r[k].length));
  const line = (r: Row) =>
    `| ${r.metric.padEnd(w('metric'))} | ${r.walflow.padStart(w('walflow'))} | ${r.alternative.padEnd(w('alternative'))} | ${r.ratio.padStart(w('ratio'))} |`;
  const sep = `|${'-'.repeat(w('metric') + 2)}|${'-'.repeat(w('walflow') + 2)}|${'-'.repeat(w('alternative') + 2)}|${'-'.repeat(w('ratio') + 2)}|`;
  return [line(head), sep, ...rows.map(line)].join('\n');
}

const ratio = (a: number, b: number) =>
  Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}x` : '-';

/** A row comparing one figure; `alt` undefined when pgBackRest did not run. */
function row(metric: string, ours: number, alt: number | undefined, digits = 1, altNote = 'pgBackRest'): Row {
  return {
    metric,
    walflow: fmt(ours, digits),
    alternative: alt === undefined ? '-' : `${fmt(alt, digits)}  ${altNote}`,
    ratio: alt === undefined ? '-' : ratio(ours, alt),
  };
}

function restoreRows(r: RestoreBench): Row[] {
  const p = r.pgbackrest;
  const get = p?.archiveGet;
  const pf = r.restore.prefetch;
  const phase = (name: string) => r.restore.phases.find((x) => x.phase === name);
  const pgbrBackup = p ? sum(p.backupSeconds) : undefined;
  return [
    row(
      `restore WAL throughput, files/s (prefetch / async archive-get)`,
      pf.segPerSec,
      get?.segPerSec,
      2,
      'pgBackRest archive-get, async',
    ),
    row('restore_command back to back, files/s (fetch, no prefetch)', r.fetch.segPerSec, get?.segPerSec, 2),
    row('restore_command p50, ms (lower is better)', median(r.fetch.latenciesMs), get && median(get.latenciesMs)),
    row('restore_command p99, ms (lower is better)', pct(r.fetch.latenciesMs, 99), get && pct(get.latenciesMs, 99)),
    row(
      'CPU s per WAL file, prefetch (worker) / archive-get (all)',
      (pf.cpu?.cpuSeconds.worker ?? NaN) / pf.segments,
      get?.cpuSecondsPerSegment,
      3,
    ),
    row(
      `base backup to both stores, s (lower is better)`,
      r.backup.seconds,
      pgbrBackup,
      1,
      p ? `pgBackRest full, repo1 ${fmt(p.backupSeconds[0])} + repo2 ${fmt(p.backupSeconds[1])}` : '',
    ),
    row(
      `whole restore to promoted, s (${pf.segments} WAL files; lower is better)`,
      r.restore.wallSeconds,
      p?.restore.wallSeconds,
      1,
      p ? `pgbackrest restore ${fmt(p.restore.restoreSeconds)} + recovery ${fmt(p.restore.recoverSeconds)}` : '',
    ),
    ...['check', 'choose', 'download', 'plan', 'prefetch', 'configure', 'recover']
      .filter((n) => phase(n))
      .map((n) => {
        const x = phase(n)!;
        const what = x.bytes
          ? `${fmt(x.bytes / MiB, 0)} MiB`
          : x.segments !== undefined
            ? `${x.segments} WAL files`
            : '';
        return {
          metric: `  walflow restore phase ${n}, s`,
          walflow: fmt(x.seconds ?? NaN, 2),
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

function outageRows(o: OutageBench): Row[] {
  return [
    row(
      `pg_switch_wal -> healthy store, other down, under load, p50 s (${o.healthyLagSeconds.length})`,
      median(o.healthyLagSeconds),
      median(o.bothUpLagSeconds),
      2,
      'walflow, both stores up, same load',
    ),
    row(
      'pg_switch_wal -> healthy store, other down, under load, max s',
      Math.max(...o.healthyLagSeconds),
      Math.max(...o.bothUpLagSeconds),
      2,
      'walflow, both stores up, same load',
    ),
    {
      metric: 'the returning store catches up, s',
      walflow: fmt(o.catchUpSeconds),
      alternative: `after ${o.loadSeconds} s of pgbench without it`,
      ratio: '-',
    },
  ];
}

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
      stackUp({ dir, cluster: 'bench-unused', worker: false, tls: true }),
      startSource(dir),
    ]);
    log(`stack (S3 over HTTPS) and source PostgreSQL up in ${((Date.now() - t) / 1000).toFixed(1)} s`);

    t = Date.now();
    const segments = await generateSegments(src, opts.segments);
    const n = segments.length;
    log(
      `${n} segments from pgbench in ${((Date.now() - t) / 1000).toFixed(1)} s (${path.basename(segments[0])} .. ${path.basename(segments[n - 1])})`,
    );

    // Compression, in this process, with walflow's codec table.
    const zstd = await benchCodec('zstd', segments, 60_000);
    const gzip9: CodecFigures = await benchCodec('gzip:9', segments, 45_000);
    const walIndex = await benchIndex(segments, 30_000);

    // The backlog: pgBackRest first (no walflow worker running yet), then walflow.
    const pgbrVersion = pgbackrestVersion();
    if (!pgbrVersion) log('pgbackrest is not installed: walflow figures only');
    const pgbr = pgbrVersion
      ? new Pgbackrest(stack, dir, { data: src.pg.data, port: src.pg.port, runDir: src.pg.runDir })
      : undefined;
    const pgbrBacklog = pgbr ? await pgbackrestBacklog(stack, pgbr, segments) : undefined;

    const s3 = new BenchEnv(stack, 'bench-s3');
    const push = pushAll(s3, segments);
    const backlog = await walflowBacklog(stack, s3, segments, push.cpuSeconds);

    // pg_switch_wal -> both stores, idle; walflow's worker stays up for the outage part.
    const live = await switchLatency(
      'walflow',
      src,
      `${WALFLOW} push %p %f --env-file ${s3.envFile}`,
      new Map([...s3.stores].map(([name, store]) => [name, async (seg: string) => !!(await store.head(s3.key(seg)))])),
      opts.switches,
    );
    const outage =
      opts.outageSeconds > 0 ? await benchOutage({ stack, src, env: s3, seconds: opts.outageSeconds }) : undefined;
    await s3.stopWorker();
    const pgbrLive = pgbr
      ? await switchLatency(
          pgbr.version,
          src,
          pgbr.command('archive-push %p'),
          new Map(pgbr.repos.map((repo, i) => [`repo${i + 1}`, (seg: string) => pgbr.holds(repo, seg)])),
          opts.switches,
        )
      : undefined;

    // Restore: base backups, more WAL to both tools' stores, whole restores, restore_command alone.
    const rst =
      opts.restoreSegments > 0
        ? await benchRestore({ stack, src, dir, segments: opts.restoreSegments, pgbr })
        : undefined;

    // Scale: verify and retention on a synthetic archive of many small WAL objects.
    const scale = opts.scaleObjects > 0 ? await benchScale({ stack, dir, objects: opts.scaleObjects }) : undefined;

    // Figures and table.
    const zMb = median(zstd.mbPerSec),
      gMb = median(gzip9.mbPerSec);
    const zRatio = zstd.rawBytes / zstd.storedBytes,
      gRatio = gzip9.rawBytes / gzip9.storedBytes;
    const b = pgbrBacklog;
    const rows: Row[] = [
      row(`archive backlog of ${n} segments to 2 S3 servers, segments/s`, backlog.segPerSec, b?.segPerSec, 2),
      row('archive backlog, MB/s of WAL', backlog.segPerSec * 16, b && b.segPerSec * 16),
      row("CPU s per archived segment (all the tool's processes)", backlog.cpuPerSegment, b?.cpuPerSegment, 3),
      row("  S3 servers' CPU s per segment meanwhile", backlog.s3CpuPerSegment, b?.s3CpuPerSegment, 3),
      row('peak memory while archiving, MiB', backlog.peakRssMiB, b?.peakRssMiB, 0, 'pgBackRest, all processes'),
      row('pg_switch_wal -> both stores, idle, p50 s', median(live.seconds), pgbrLive && median(pgbrLive.seconds), 3),
      row('pg_switch_wal -> both stores, idle, p99 s', pct(live.seconds, 99), pgbrLive && pct(pgbrLive.seconds, 99), 3),
      row(
        'archive_command p50, ms (walflow push; pgBackRest in the backlog)',
        median(push.ms),
        b?.latenciesMs && median(b.latenciesMs),
      ),
      {
        metric: 'compression per segment p50, ms / MB/s',
        walflow: `${fmt(median(zstd.ms))} / ${fmt(zMb)} zstd-3`,
        alternative: `${fmt(median(gzip9.ms))} / ${fmt(gMb)}  gzip -9 (old design)`,
        ratio: ratio(median(zstd.ms), median(gzip9.ms)),
      },
      row('compression ratio raw/stored (higher is better)', zRatio, gRatio, 2, 'gzip -9'),
      {
        metric: 'segment index per segment p50, ms (aim: < 20% of staging)',
        walflow: `${fmt(median(walIndex.indexMs), 2)} (${fmt(median(walIndex.share) * 100)}% of staging)`,
        alternative: `${fmt(median(walIndex.stagingMs))}  SHA-256 + zstd-3 of the same segment`,
        ratio: '-',
      },
    ];
    if (outage) rows.push(...outageRows(outage));
    if (rst) rows.push(...restoreRows(rst));
    if (scale) rows.push(...scaleRows(scale));
    await (await import('./bench/encryption')).benchEncryption(segments, 30_000);
    const totalS = (Date.now() - started) / 1000;
    const loadEnd = os.loadavg();
    const figures = {
      when: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length,
        cpu: os.cpus()[0]?.model,
        node: process.version,
        memGiB: Math.round(os.totalmem() / 2 ** 30),
        loadAvg1Start: loadStart,
        loadAvgEnd: loadEnd,
      },
      pgbackrest: pgbr
        ? {
            version: pgbr.version,
            config: fs.readFileSync(pgbr.conf, 'utf8').replace(/key-secret=.*/g, 'key-secret=…'),
          }
        : undefined,
      segments: { count: n, names: segments.map((s) => path.basename(s)), bytesEach: 16 * MiB },
      push: { p50Ms: median(push.ms), p99Ms: pct(push.ms, 99), cpuSeconds: push.cpuSeconds, samplesMs: push.ms },
      compression: {
        zstd: { ...zstd, p50MBps: zMb, ratio: zRatio },
        gzip9: { ...gzip9, p50MBps: gMb, ratio: gRatio },
      },
      segmentIndex: { ...walIndex, p50Ms: median(walIndex.indexMs), p50Share: median(walIndex.share) },
      backlog: { walflow: backlog, pgbackrest: pgbrBacklog },
      switchToStores: { walflow: live, pgbackrest: pgbrLive },
      outage: outage ?? { skipped: '--outage-seconds 0' },
      restore: rst ?? { skipped: '--restore-segments 0' },
      scale: scale ?? { skipped: '--scale-objects 0' },
      table: rows,
      totalSeconds: totalS,
    };
    const json = JSON.stringify(figures, null, 2);
    fs.writeFileSync(path.join(dir, 'bench.json'), json);
    fs.mkdirSync(path.dirname(jsonOut), { recursive: true });
    fs.writeFileSync(jsonOut, json);

    process.stdout.write(
      `\nwalflow bench: ${n} real 16 MiB segments from pgbench, ${os.cpus().length} CPUs, Node ${process.version}` +
        `${pgbr ? `, ${pgbr.version}` : ''}, 2 S3 servers (versitygw, HTTPS), ${opts.switches} idle switches` +
        `${rst ? `, restore of ${rst.segments.length} more` : ''}, ${totalS.toFixed(0)} s in all, ` +
        `load average ${loadStart.toFixed(1)} at start, ${loadEnd.map((l) => l.toFixed(1)).join(' / ')} (1/5/15 min) at the end\n\n`,
    );
    process.stdout.write(table(rows) + '\n\n');
    process.stdout.write(
      [
        `Same segments, same S3 servers, same bucket (walflow under walflow/, pgBackRest under pgbackrest/), both over HTTPS`,
        '  with the certificate verified. pgBackRest: archive-async, process-max 2, zst level 3, repo1 = r2, repo2 = b2.',
        'archive backlog: walflow from a spool holding every segment (worker running) until both stores hold each one and the',
        '  spool is empty; pgBackRest from a pg_wal holding every segment as .ready, archive-push called for each in order as',
        '  PostgreSQL does, until the last returns (async: it returns once its segment is in both repositories).',
        '  CPU: walflow worker + Temporal dev server + the push processes; pgBackRest every process it started (async',
        "  processes and their locals included). Peak memory: the walflow worker (VmHWM); pgBackRest's processes together.",
        'pg_switch_wal -> both stores: archive_command set to the tool, both stores polled every 20 ms, idle cluster.',
        ...(outage
          ? [
              `outage: pgbench for ${outage.loadSeconds} s with both S3 servers up, then as long with b2's stopped; meanwhile pg_switch_wal`,
              '  after pg_switch_wal, each timed until r2 holds the segment. Then b2 returns and catches up from the spool.',
            ]
          : []),
        ...(rst
          ? [
              'restore: walflow backup --wait, then pgbackrest backup --type=full to repo1 and to repo2 (one repository per run),',
              '  then the restore segments (pgbench beside bulk UPDATEs), archived by both. walflow restore --start --wait to the end',
              '  of the archive, figures from the catalog; pgbackrest restore, then PostgreSQL recovering with async archive-get',
              "  until promoted. restore WAL throughput: walflow's prefetch phase against archive-get called back to back (its async",
              '  prefetch, queue 2 GiB); restore_command: walflow fetch one process per file with no prefetch folder.',
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
