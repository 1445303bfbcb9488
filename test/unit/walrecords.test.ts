// The WAL reader and the per-segment index against pg_waldump, on real WAL from a real
// PostgreSQL: pgbench, commits, aborts, subtransactions, two-phase commit, restore points, a
// record larger than a segment, and a promotion to a new timeline.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PgCluster } from '../../lib/devstack/pgcluster';
import { chownToPostgres, sleep, stackPgMajor } from '../../lib/devstack/procs';
import { stopPostgres } from '../../lib/devstack/stack';
import { XLP_FIRST_IS_CONTRECORD } from '../../lib/wal/format';
import { carriesEvent, eventOf, pgTimestampToIso, WalEvent } from '../../lib/wal/events';
import { parseSegmentHeader } from '../../lib/wal/header';
import { decodeRecord, SegmentWalk, walkSegment, WalRecord } from '../../lib/wal/records';
import {
  decodeIndex,
  encodeIndex,
  indexSegment,
  INDEX_METADATA_BUDGET,
  SegmentIndex,
} from '../../lib/wal/segmentindex';
import { archivedSegments, DumpedRecord, pgWaldump, startWalSource, waldumpTime, WalSource } from '../support/realwal';

const SEGMENT = 1 << 20;
const LONG_NAME = 'rp-' + 'x'.repeat(60); // 63 bytes: the longest name PostgreSQL keeps
const RESTORE_POINTS = ['before-load', LONG_NAME, 'später-ünïcode'];

let dir: string;
let src: WalSource;

interface SegmentRead {
  name: string;
  walk: SegmentWalk;
  records: (WalRecord & { recLength: number })[];
  events: WalEvent[];
  firstPageInfo: number;
  remLen: number;
}
const reads = new Map<string, SegmentRead>();

function readSegment(name: string): SegmentRead {
  const buf = fs.readFileSync(path.join(src.archiveDir, name));
  const records: SegmentRead['records'] = [];
  const events: WalEvent[] = [];
  const walk = walkSegment(
    buf,
    (r, format) => {
      const decoded = decodeRecord(r.bytes);
      records.push({ ...r, bytes: Buffer.alloc(0), recLength: r.totalLength - decoded.imageBytes });
      if (carriesEvent(r.rmid, r.info)) events.push(eventOf(r, format)!);
    },
    () => true,
  );
  return { name, walk, records, events, firstPageInfo: buf.readUInt16LE(2), remLen: buf.readUInt32LE(16) };
}

async function psql(pg: PgCluster, sql: string): Promise<void> {
  await pg.query(sql);
}

/** Switches to a new segment and waits until archive_command has copied the one it closed. */
async function switchAndWait(pg: PgCluster): Promise<void> {
  const name = await pg.switchWal();
  for (let i = 0; i < 300 && !fs.existsSync(path.join(src.archiveDir, name)); i++) await sleep(100);
  if (!fs.existsSync(path.join(src.archiveDir, name))) throw new Error(`${name} not archived within 30s`);
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'walflow-walrecords-'));
  fs.chmodSync(dir, 0o755);
  chownToPostgres(dir);
  src = await startWalSource(dir, 1, ['max_prepared_transactions = 4', 'max_wal_size = 32MB', 'min_wal_size = 4MB']);
  const pg = src.pg;
  await psql(pg, `SELECT pg_create_restore_point('${RESTORE_POINTS[0]}')`);
  await psql(pg, 'CREATE TABLE t (id int, pad text)');
  await psql(pg, "INSERT INTO t SELECT g, repeat('p', 100) FROM generate_series(1, 1000) g");
  await psql(pg, "BEGIN; INSERT INTO t VALUES (-1, 'rolled back'); ROLLBACK");
  await psql(
    pg,
    'BEGIN; INSERT INTO t VALUES (-2); SAVEPOINT s; INSERT INTO t VALUES (-3); ROLLBACK TO s; INSERT INTO t VALUES (-4); COMMIT',
  );
  await psql(pg, "BEGIN; INSERT INTO t VALUES (-5); PREPARE TRANSACTION 'gid-commit'");
  await psql(pg, "COMMIT PREPARED 'gid-commit'");
  await psql(pg, "BEGIN; INSERT INTO t VALUES (-6); PREPARE TRANSACTION 'gid-abort'");
  await psql(pg, "ROLLBACK PREPARED 'gid-abort'");
  // Dropping a table in a prepared transaction: relation files and dropped statistics in the commit.
  await psql(pg, 'CREATE TABLE gone (id int); INSERT INTO gone VALUES (1)');
  await psql(pg, "BEGIN; DROP TABLE gone; PREPARE TRANSACTION 'gid-drop'");
  await psql(pg, "COMMIT PREPARED 'gid-drop'");
  await psql(pg, `SELECT pg_create_restore_point('${LONG_NAME}')`);
  // One record of 2.5 MiB: it crosses pages and whole 1 MiB segments.
  await psql(pg, "SELECT pg_logical_emit_message(true, 'walflow', repeat('m', 2621440))");
  pg.tool('pgbench', ['-i', '-s', '2', '-q', 'postgres']);
  pg.tool('pgbench', ['-c', '2', '-t', '300', '-n', 'postgres']);
  await psql(pg, `SELECT pg_create_restore_point('${RESTORE_POINTS[2]}')`);

  // Promotion: the same cluster restarted as a standby of its own archive, then promoted, writes
  // an end-of-recovery record on timeline 2.
  await switchAndWait(pg);
  await stopPostgres(pg.data);
  fs.writeFileSync(path.join(pg.data, 'standby.signal'), '');
  fs.appendFileSync(path.join(pg.data, 'postgresql.conf'), `restore_command = 'cp ${src.archiveDir}/%f %p'\n`);
  chownToPostgres(path.join(pg.data, 'standby.signal'));
  await pg.start();
  await pg.query('SELECT pg_promote(true, 60)');
  await psql(pg, 'INSERT INTO t VALUES (-7)');
  await switchAndWait(pg);
  await pg.stop();
  for (const name of archivedSegments(src.archiveDir)) reads.set(name, readSegment(name));
});

after(async () => {
  await src?.pg.stop('immediate').catch(() => undefined);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function timelineSegments(tli: number): string[] {
  return [...reads.keys()].filter((n) => parseInt(n.slice(0, 8), 16) === tli);
}

const dumps = new Map<number, DumpedRecord[]>();
function dumpOf(tli: number): DumpedRecord[] {
  if (!dumps.has(tli)) {
    const names = timelineSegments(tli);
    dumps.set(tli, pgWaldump(src.archiveDir, names[0], names[names.length - 1]));
  }
  return dumps.get(tli)!;
}

const RMGR_IDS: Record<string, number> = { XLOG: 0, Transaction: 1 };

describe('WAL reader against pg_waldump', () => {
  test('every segment names the PostgreSQL version that wrote it (the page magic)', () => {
    for (const name of reads.keys()) {
      const header = parseSegmentHeader(fs.readFileSync(path.join(src.archiveDir, name)));
      assert.equal(header?.pgVersion, stackPgMajor(), name);
    }
  });

  for (const tli of [1, 2]) {
    test(`timeline ${tli}: every record pg_waldump lists, except those crossing a segment boundary`, () => {
      const dumped = dumpOf(tli);
      const ours = new Map<bigint, SegmentRead['records'][number]>();
      for (const name of timelineSegments(tli)) for (const r of reads.get(name)!.records) ours.set(r.lsn, r);
      let crossing = 0;
      for (const d of dumped) {
        const r = ours.get(d.lsn);
        const crosses = d.lsn / BigInt(SEGMENT) !== (d.lsn + BigInt(d.totalLength) - 1n) / BigInt(SEGMENT);
        if (crosses) {
          crossing++;
          assert.equal(r, undefined, `record at ${d.lsn} crosses a segment boundary: neither segment indexes it`);
          continue;
        }
        assert.ok(r, `record at ${d.lsn} (${d.rmgr} ${d.desc.slice(0, 60)}) missing from the reader`);
        assert.deepEqual(
          { tot: r.totalLength, rec: r.recLength, xid: r.xid, prev: r.prev },
          { tot: d.totalLength, rec: d.recLength, xid: d.xid, prev: d.prev },
          `record at ${d.lsn}`,
        );
        if (d.rmgr in RMGR_IDS) assert.equal(r.rmid, RMGR_IDS[d.rmgr], `rmgr of ${d.lsn}`);
      }
      if (tli === 1) assert.ok(crossing > 0, 'the workload has records crossing segment boundaries');
      assert.ok(ours.size > (tli === 1 ? 10_000 : 5), `${ours.size} records read`);
      // The reader finds nothing pg_waldump does not: it stops where the valid WAL stops.
      const dumpedLsns = new Set(dumped.map((d) => d.lsn));
      for (const lsn of ours.keys())
        assert.ok(dumpedLsns.has(lsn), `reader found a record at ${lsn} that pg_waldump does not list`);
    });
  }

  test('transaction ends, prepares, restore points and the end of recovery match pg_waldump', () => {
    const events = new Map<bigint, WalEvent>();
    for (const s of reads.values()) for (const e of s.events) events.set(e.lsn, e);
    const seen = new Set<string>();
    for (const tli of [1, 2]) {
      for (const d of dumpOf(tli)) {
        const op = /^(\S+)/.exec(d.desc)![1];
        const e = events.get(d.lsn);
        const crosses = d.lsn / BigInt(SEGMENT) !== (d.lsn + BigInt(d.totalLength) - 1n) / BigInt(SEGMENT);
        if (crosses) continue;
        if (
          d.rmgr === 'Transaction' &&
          ['COMMIT', 'ABORT', 'PREPARE', 'COMMIT_PREPARED', 'ABORT_PREPARED'].includes(op)
        ) {
          assert.ok(e && 'time' in e && 'xid' in e, `${op} at ${d.lsn}`);
          const kind = op.toLowerCase().replace('_', '-');
          assert.equal(e.kind, kind);
          assert.equal(pgTimestampToIso(e.time), waldumpTime(d.desc), `${op} time at ${d.lsn}`);
          // A prepared transaction's end names the prepared xid; everything else is the record's own.
          const named = /^(?:COMMIT|ABORT)_PREPARED (\d+):/.exec(d.desc);
          assert.equal(e.xid, named ? Number(named[1]) : d.xid, `${op} xid at ${d.lsn}`);
          seen.add(kind);
        } else if (d.rmgr === 'XLOG' && op === 'RESTORE_POINT') {
          assert.ok(e && e.kind === 'restore-point');
          assert.equal(e.name, d.desc.slice('RESTORE_POINT '.length));
          seen.add('restore-point');
        } else if (d.rmgr === 'XLOG' && op === 'END_OF_RECOVERY') {
          assert.ok(e && e.kind === 'end-of-recovery');
          const m = /tli (\d+); prev tli (\d+); time (.*)$/.exec(d.desc)!;
          assert.deepEqual(
            [e.timeline, e.prevTimeline, pgTimestampToIso(e.time)],
            [Number(m[1]), Number(m[2]), waldumpTime(m[3])],
          );
          seen.add('end-of-recovery');
        } else if (d.rmgr === 'XLOG' && op === 'SWITCH') {
          assert.ok(e && e.kind === 'switch', `switch at ${d.lsn}`);
          seen.add('switch');
        } else {
          assert.ok(!e || e.kind === 'checkpoint', `no event for ${d.rmgr} ${op} at ${d.lsn}`);
        }
      }
    }
    assert.deepEqual([...seen].sort(), [
      'abort',
      'abort-prepared',
      'commit',
      'commit-prepared',
      'end-of-recovery',
      'prepare',
      'restore-point',
      'switch',
    ]);
    const names = [...events.values()].flatMap((e) => (e.kind === 'restore-point' ? [e.name] : []));
    assert.deepEqual(names, RESTORE_POINTS);
  });

  test('records crossing pages and segments: continuation skipped, a segment inside one record', () => {
    const all = [...reads.values()];
    const continued = all.filter((s) => s.firstPageInfo & XLP_FIRST_IS_CONTRECORD);
    assert.ok(
      continued.some((s) => s.remLen > 8192),
      'a segment starts with the rest of a record longer than a page',
    );
    const inside = all.filter((s) => s.remLen >= SEGMENT);
    assert.ok(inside.length >= 1, 'the 2.5 MiB record fills a whole segment');
    for (const s of inside) assert.deepEqual([s.walk.records, s.walk.end], [0, 'continues'], s.name);
    const crossingPages = all.flatMap((s) => s.records).filter((r) => (r.lsn % 8192n) + BigInt(r.totalLength) > 8192n);
    assert.ok(crossingPages.length > 10, 'records cross page boundaries');
    for (const s of all) assert.notEqual(s.walk.end, 'invalid', `${s.name}: ${s.walk.detail}`);
    assert.ok(all.some((s) => s.walk.end === 'switch'));
  });
});

describe('segment index against pg_waldump', () => {
  test('counts, times, xid ranges, restore points and timeline start per segment', () => {
    for (const [name, s] of reads) {
      const segStart = s.walk.startLsn;
      const mine = dumpOf(parseInt(name.slice(0, 8), 16)).filter(
        (d) => d.lsn >= segStart && d.lsn + BigInt(d.totalLength) <= segStart + BigInt(SEGMENT),
      );
      const index = indexSegment(fs.readFileSync(path.join(src.archiveDir, name)));
      const expected = expectedIndex(mine);
      assert.deepEqual(pickIndex(index), expected, name);
      assert.equal(index.records, s.walk.records, name);
      assert.deepEqual(
        decodeIndex(encodeIndex(index)),
        index,
        `${name}: the index round-trips through its metadata text`,
      );
    }
    const starts = [...reads.keys()]
      .map((n) => indexSegment(fs.readFileSync(path.join(src.archiveDir, n))).timelineStart)
      .filter(Boolean);
    assert.deepEqual(
      starts.map((t) => [t!.prevTimeline, t!.timeline]),
      [[1, 2]],
    );
  });
});

function pickIndex(i: SegmentIndex) {
  return {
    commits: i.commits,
    aborts: i.aborts,
    prepares: i.prepares,
    commitTimes: i.commitTimes,
    abortTimes: i.abortTimes,
    commitXids: i.commitXids,
    abortXids: i.abortXids,
    restorePoints: i.restorePoints?.map((r) => r.name),
  };
}

function expectedIndex(records: DumpedRecord[]) {
  let commits = 0,
    aborts = 0,
    prepares = 0;
  const commitTimes: string[] = [],
    abortTimes: string[] = [],
    commitXids: number[] = [],
    abortXids: number[] = [];
  const restorePoints: string[] = [];
  for (const d of records) {
    const op = /^(\S+)/.exec(d.desc)![1];
    const named = /^(?:COMMIT|ABORT)_PREPARED (\d+):/.exec(d.desc);
    const xid = named ? Number(named[1]) : d.xid;
    if (d.rmgr === 'Transaction' && (op === 'COMMIT' || op === 'COMMIT_PREPARED')) {
      commits++;
      commitTimes.push(waldumpTime(d.desc));
      commitXids.push(xid);
    }
    if (d.rmgr === 'Transaction' && (op === 'ABORT' || op === 'ABORT_PREPARED')) {
      aborts++;
      abortTimes.push(waldumpTime(d.desc));
      abortXids.push(xid);
    }
    if (d.rmgr === 'Transaction' && op === 'PREPARE') prepares++;
    if (d.rmgr === 'XLOG' && op === 'RESTORE_POINT') restorePoints.push(d.desc.slice('RESTORE_POINT '.length));
  }
  const span = (xs: string[]) => (xs.length ? [xs[0], xs[xs.length - 1]] : undefined);
  const range = (xs: number[]) => (xs.length ? [Math.min(...xs), Math.max(...xs)] : undefined);
  return {
    commits,
    aborts,
    prepares,
    commitTimes: span(commitTimes),
    abortTimes: span(abortTimes),
    commitXids: range(commitXids),
    abortXids: range(abortXids),
    restorePoints: restorePoints.length ? restorePoints : undefined,
  };
}

describe('segment index edge cases', () => {
  test('what is not a readable segment still gets an index that says why', () => {
    assert.match(indexSegment(Buffer.alloc(SEGMENT)).error!, /no long page header/);
    const first = [...reads.keys()][0];
    const buf = fs.readFileSync(path.join(src.archiveDir, first));
    const pg14 = Buffer.from(buf);
    pg14.writeUInt16LE(0xd10d, 0);
    assert.match(indexSegment(pg14).error!, /PostgreSQL 14\) is not a WAL format walflow reads/);
    // Damage in the middle: the index keeps what it read before and says where it stopped.
    const damaged = Buffer.from(buf);
    damaged.fill(0xff, 8192 * 3, 8192 * 3 + 64);
    const index = indexSegment(damaged);
    assert.equal(index.end, 'invalid');
    assert.match(index.detail!, /page at 24576/);
  });

  test('many restore points: the metadata text stays within its budget and still counts them all', () => {
    const index: SegmentIndex = {
      v: 1,
      commits: 1,
      aborts: 0,
      prepares: 0,
      end: 'full',
      endLsn: '0/2000000',
      restorePoints: Array.from({ length: 100 }, (_, i) => ({
        name: `ünïcode  ${i}-${'n'.repeat(50)}`,
        time: '2026-11-23T13:45:01.123456Z',
        lsn: `0/${(i + 1).toString(16)}`,
      })),
      restorePointCount: 100,
    };
    const text = encodeIndex(index);
    assert.ok(text.length <= INDEX_METADATA_BUDGET, `${text.length} characters`);
    assert.match(text, /^[\x21-\x7e]+$/, 'printable ASCII without spaces: an HTTP header value as is');
    const back = decodeIndex(text)!;
    assert.equal(back.restorePointCount, 100);
    assert.ok(back.restorePoints!.length > 0 && back.restorePoints!.length < 100);
    assert.deepEqual(back.restorePoints![0], index.restorePoints![0]);
    assert.equal(decodeIndex('{"v":99}'), undefined);
    assert.equal(decodeIndex('not json'), undefined);
  });
});
