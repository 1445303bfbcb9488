// Every archived segment carries its index (commit and abort times, xid ranges, restore points,
// a switch) in both stores' metadata and in the catalog; catalog rebuild restores it from the
// stores; a segment the reader cannot read is archived all the same, its index saying why.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { parseClusterJson } from '../lib/clusterjson';
import { PgCluster } from '../lib/devstack/pgcluster';
import { chownToPostgres, stackPgMajor } from '../lib/devstack/procs';
import { decodeIndex, SegmentIndex } from '../lib/wal/segmentindex';
import { parseWalName, segmentName } from '../lib/wal/name';
import { catalogQuery } from './support/catalog';
import { TestEnv, waitFor } from './support/env';
import { waitArchived } from './support/pitr';

let env: TestEnv;
let pg: PgCluster;

before(async () => {
  env = new TestEnv('walindex');
  await env.startWorker();
  pg = await env.createCluster(['track_commit_timestamp = on', 'max_prepared_transactions = 2']);
});

after(async () => {
  await pg?.stop('immediate');
  await env?.close();
});

const keyOf = (segment: string) => `walindex/wal/${segment.slice(0, 8)}/${segment}.zst`;

async function storedIndexes(segment: string): Promise<(SegmentIndex | undefined)[]> {
  return Promise.all(
    ['r2', 'b2'].map(async (s) => decodeIndex((await env.stores.get(s)!.head(keyOf(segment)))?.meta?.walIndex)),
  );
}

async function catalogIndexes(): Promise<{ name: string; wal_index: SegmentIndex | null }[]> {
  return catalogQuery(
    env.config.catalogUrl,
    "SELECT name, wal_index FROM wal_files WHERE cluster = 'walindex' ORDER BY name",
  );
}

/** A commit with its xid and PostgreSQL's own record of its time (track_commit_timestamp). */
async function commitOne(sql: string): Promise<{ xid: number; time: string }> {
  const [{ xid }] = await pg.query<{ xid: string }>(
    `WITH w AS (${sql} RETURNING 1) SELECT pg_current_xact_id()::text AS xid FROM w LIMIT 1`,
  );
  const [{ time }] = await pg.query<{ time: string }>(
    'SELECT to_char(pg_xact_commit_timestamp($1::xid) AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\') AS time',
    [xid],
  );
  return { xid: Number(xid), time };
}

test(
  'segments carry their index in both stores and the catalog; rebuild restores it; unreadable WAL is archived anyway',
  { timeout: 300_000 },
  async () => {
    await pg.query('CREATE TABLE t (id int)');
    const first = await commitOne('INSERT INTO t VALUES (1)');
    await pg.query("BEGIN; INSERT INTO t VALUES (2); PREPARE TRANSACTION 'walindex-2pc'");
    await pg.query("ROLLBACK PREPARED 'walindex-2pc'");
    await pg.query("SELECT pg_create_restore_point('walindex-point')");
    const last = await commitOne('INSERT INTO t VALUES (3)');
    const segment = await pg.switchWal();
    await waitArchived(env, segment);

    // Both stores hold the same index, and it says what happened in the segment.
    const [r2, b2] = await storedIndexes(segment);
    assert.ok(r2, `${segment} in r2 carries an index`);
    assert.deepEqual(b2, r2);
    assert.equal(r2.error, undefined);
    assert.equal(r2.pg, stackPgMajor());
    assert.equal(r2.end, 'switch');
    assert.ok(r2.switchLsn);
    assert.ok(r2.commits! >= 2 && r2.aborts! >= 1 && r2.prepares === 1, JSON.stringify(r2));
    assert.ok(
      r2.commitTimes![0] <= first.time && last.time <= r2.commitTimes![1],
      `${JSON.stringify(r2.commitTimes)} holds ${first.time} and ${last.time}`,
    );
    assert.equal(r2.commitTimes![1], last.time, "the last commit before the switch is the segment's last");
    assert.ok(r2.commitXids![0] <= first.xid && last.xid <= r2.commitXids![1], JSON.stringify(r2.commitXids));
    assert.deepEqual(
      r2.restorePoints!.map((p) => p.name),
      ['walindex-point'],
    );

    // The catalog holds the same index for every segment, and none for a history file.
    await waitFor('catalog rows', async () => (await catalogIndexes()).some((r) => r.name === segment), 30_000);
    const rows = await catalogIndexes();
    assert.deepEqual(rows.find((r) => r.name === segment)!.wal_index, r2);
    for (const row of rows) {
      if (parseWalName(row.name)?.kind === 'segment')
        assert.ok(row.wal_index && row.wal_index.v === 1, `${row.name} has an index in the catalog`);
    }

    // A segment the reader cannot read (a page magic of PostgreSQL 14) is archived all the same.
    const odd = segmentName(1, parseWalName(segment, 16 << 20)!.segno! + 20n, 16 << 20);
    const oddFile = path.join(env.dir, odd);
    const identity = parseClusterJson(await env.stores.get('r2')!.get('walindex/cluster.json'), 'walindex');
    const sysid = BigInt(identity.systemIdentifier);
    const body = Buffer.alloc(16 << 20);
    body.writeUInt16LE(0xd10d, 0);
    body.writeUInt16LE(0x0002, 2);
    body.writeUInt32LE(1, 4);
    body.writeBigUInt64LE(parseWalName(odd, 16 << 20)!.segno! * BigInt(16 << 20), 8);
    body.writeBigUInt64LE(sysid, 24);
    body.writeUInt32LE(16 << 20, 32);
    body.writeUInt32LE(8192, 36);
    fs.writeFileSync(oddFile, body);
    chownToPostgres(oddFile);
    const pushed = env.walflow(['push', oddFile, odd]);
    assert.equal(pushed.status, 0, pushed.stderr);
    await waitArchived(env, odd);
    const [oddIndex] = await storedIndexes(odd);
    assert.match(oddIndex!.error!, /PostgreSQL 14\) is not a WAL format walflow reads/);
    await waitFor(
      'catalog row of the unreadable segment',
      async () => (await catalogIndexes()).some((r) => r.name === odd),
      30_000,
    );

    // Lose the catalog; rebuild it from the stores: every index comes back as it was.
    await env.stopWorker();
    const before = await catalogIndexes();
    await catalogQuery(
      env.config.catalogUrl,
      'DROP SCHEMA public CASCADE; CREATE SCHEMA public; DROP SCHEMA IF EXISTS drizzle CASCADE',
    );
    const rebuilt = env.walflow(['catalog', 'rebuild']);
    assert.equal(rebuilt.status, 0, rebuilt.stderr);
    assert.deepEqual(await catalogIndexes(), before);
  },
);
