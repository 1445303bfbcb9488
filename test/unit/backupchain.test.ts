// Pure: which backups restore an incremental, and which ones retention must keep with it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Chained, chainOf, chainRoot, withAncestors } from '../../lib/backupchain';

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
