// What the checks conclude from a host's polls and report: each condition at its threshold,
// and nothing raised by a live, idle host or by a quiet database.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ArchiverReport } from '../../lib/contracts';
import { archiveFailing, archiveStale, POLL_CYCLE_MS, silentByPolls, spoolAge } from '../../lib/hostchecks';

const archiver = (a: Partial<ArchiverReport>): ArchiverReport => ({
  lastArchivedWal: null,
  lastArchivedAt: null,
  lastFailedWal: null,
  lastFailedAt: null,
  oldestUnarchived: null,
  walDirError: null,
  ...a,
});

describe('host checks', () => {
  test('host-silent by polls: a long-poll cycle is never silence; no poller listed is', () => {
    assert.equal(silentByPolls('c', 'db1', POLL_CYCLE_MS - 1, 10_000), null, 'an idle worker polls once a minute');
    assert.equal(silentByPolls('c', 'db1', 200_000, 300_000), null);
    assert.equal(silentByPolls('c', 'db1', 301_000, 300_000)?.key, 'host-silent:db1');
    assert.match(silentByPolls('c', 'db1', null, 300_000)!.message, /no worker has polled host db1's task queue/);
  });

  test('archive-command-failing while the newest failure is newer than the newest success', () => {
    assert.equal(archiveFailing('c', 'db1', archiver({})), null, 'nothing archived or failed yet');
    const failed = { lastFailedWal: '000000010000000000000003', lastFailedAt: '2026-11-23T10:00:05Z' };
    assert.equal(archiveFailing('c', 'db1', archiver(failed))?.kind, 'archive-command-failing');
    assert.ok(archiveFailing('c', 'db1', archiver({ ...failed, lastArchivedAt: '2026-11-23T10:00:00Z' })));
    assert.equal(archiveFailing('c', 'db1', archiver({ ...failed, lastArchivedAt: '2026-11-23T10:00:06Z' })), null);
  });

  test('archive-stale: finished WAL in no store past the threshold, and nothing newer arrived', () => {
    const waiting = archiver({ oldestUnarchived: { name: '000000010000000000000009', ageMs: 20 * 60_000 } });
    const newest = { name: '000000010000000000000008', ageMs: 30 * 60_000 };
    assert.equal(archiveStale('c', 'db1', waiting, newest, 15 * 60_000)?.key, 'archive-stale:db1');
    assert.ok(archiveStale('c', 'db1', waiting, null, 15 * 60_000), 'nothing ever reached the stores');
    assert.equal(archiveStale('c', 'db1', waiting, { ...newest, ageMs: 60_000 }, 15 * 60_000), null, 'WAL flows');
    assert.equal(archiveStale('c', 'db1', archiver({}), newest, 15 * 60_000), null, 'a quiet database');
    const young = archiver({ oldestUnarchived: { name: '000000010000000000000009', ageMs: 5_000 } });
    assert.equal(archiveStale('c', 'db1', young, newest, 15 * 60_000), null, 'just finished, after a quiet hour');
  });

  test('spool-age past its threshold', () => {
    assert.equal(spoolAge('c', 'db1', 60_000, 60_000), null);
    assert.equal(spoolAge('c', 'db1', 60_001, 60_000)?.key, 'spool-age:db1');
  });
});
