// Which runs the spool watcher counts as busy: those with a copy still to make to a store that answers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UploadProgress } from '../../lib/uploadprogress';

const stores = ['r2', 'b2'];

test('a file waits on failing stores only once every other store holds it', () => {
  const p = new UploadProgress();
  assert.equal(p.waitsOnFailingStoresOnly('A', stores), false, 'nothing uploaded yet');
  p.failed('b2');
  assert.equal(p.waitsOnFailingStoresOnly('A', stores), false, 'r2 still to take it');
  p.copied('r2', 'A');
  assert.equal(p.waitsOnFailingStoresOnly('A', stores), true);
  assert.equal(p.waitsOnFailingStoresOnly('B', stores), false, 'another file is not held');
});

test('a success clears the store failing: its files are owed work again', () => {
  const p = new UploadProgress();
  p.failed('b2');
  p.copied('r2', 'A');
  p.copied('b2', 'B');
  assert.equal(p.waitsOnFailingStoresOnly('A', stores), false, 'b2 answers again and still owes A');
  p.copied('b2', 'A');
  assert.equal(p.waitsOnFailingStoresOnly('A', stores), true, 'every store holds it');
});

test('files that left the spool are forgotten', () => {
  const p = new UploadProgress();
  p.copied('r2', 'A');
  p.copied('b2', 'A');
  p.retain(new Set(['B']));
  assert.equal(p.waitsOnFailingStoresOnly('A', stores), false);
});
