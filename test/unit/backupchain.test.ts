// Pure: which backups restore an incremental, and which ones retention must keep with it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Chained, chainOf, chainRoot, ParentCandidate, parentFor, withAncestors } from '../../lib/backupchain';

const known = (...links: [string, string?][]) =>
  new Map<string, Chained>(links.map(([backupId, parent]) => [backupId, parent ? { backupId, parent } : { backupId }]));

describe('backup chains', () => {
  const two = known(['F1'], ['I1', 'F1'], ['I2', 'I1'], ['F2'], ['I3', 'F2']);

  test('an incremental restores through its parents, full backup first; a full one alone', () => {
    assert.deepEqual(chainOf('I2', two), { chain: ['F1', 'I1', 'I2'] });
    assert.deepEqual(chainOf('F2', two), { chain: ['F2'] });
    assert.equal(chainRoot('I2', two), 'F1');
    assert.equal(chainRoot('I3', two), 'F2');
  });

  test('a link no store holds breaks the chain, and is named', () => {
    const broken = known(['F1'], ['I2', 'I1']);
    assert.deepEqual(chainOf('I2', broken), { chain: ['I2'], missing: 'I1' });
    assert.deepEqual(chainOf('gone', broken), { chain: [], missing: 'gone' });
  });

  test('a backup that is its own ancestor is an error, not a loop', () => {
    assert.throws(() => chainOf('A', known(['A', 'B'], ['B', 'A'])), /its own ancestor/);
  });

  test('retention keeps every ancestor of a kept incremental, and nothing else', () => {
    assert.deepEqual([...withAncestors(['I2'], two)].sort(), ['F1', 'I1', 'I2']);
    assert.deepEqual([...withAncestors(['I3', 'F1'], two)].sort(), ['F1', 'F2', 'I3']);
    assert.deepEqual([...withAncestors([], two)], []);
  });
});

describe('the parent of the next incremental', () => {
  const DAY = 86_400_000;
  const backup = (backupId: string, day: number, parent?: string, pgVersion = 180003): ParentCandidate => ({
    backupId,
    ...(parent ? { parent } : {}),
    startTime: new Date(Date.UTC(2026, 10, day)).toISOString(),
    stopTime: new Date(Date.UTC(2026, 10, day, 0, 5)).toISOString(),
    pgVersion,
  });
  const chain = [backup('F1', 1), backup('I1', 2, 'F1'), backup('I2', 3, 'I1')];
  const known = new Map(chain.map((b) => [b.backupId, b]));
  const on = (day: number) => new Date(Date.UTC(2026, 10, day, 1)).toISOString();

  test('the newest backup in every store, whatever its age, when asked for an incremental', () => {
    assert.equal(parentFor(chain, known, undefined, on(30)).parent, 'I2');
    assert.equal(parentFor(chain.slice(0, 2), known, undefined, on(30)).parent, 'I1', 'I2 is not in every store');
  });

  test('the Schedule takes a full backup once the newest chain is as old as WALFLOW_BACKUP_FULL_EVERY', () => {
    assert.equal(parentFor(chain, known, 7 * DAY, on(7)).parent, 'I2');
    const due = parentFor(chain, known, 7 * DAY, on(8));
    assert.deepEqual(due, { reason: `the newest chain began with F1 at ${chain[0].startTime}: a full backup is due` });
  });

  test('none with no backup in every store, or one older than PostgreSQL 17', () => {
    assert.match(parentFor([], known, undefined, on(3)).reason, /no backup is complete/);
    const old = backup('F0', 1, undefined, 160002);
    assert.match(parentFor([old], new Map([['F0', old]]), 7 * DAY, on(2)).reason, /PostgreSQL 160002, older than 17/);
  });
});
