// Durations as people write them in settings and read them in status lines and alerts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, parseDuration } from '../../lib/duration';

test('settings: every unit, fractions, surrounding blanks; anything else names the forms to use', () => {
  assert.deepEqual(
    ['250ms', '30s', '5m', '1.5h', ' 7d '].map(parseDuration),
    [250, 30_000, 300_000, 5_400_000, 604_800_000],
  );
  for (const bad of ['5', '5 m', '5min', '-5m', 'm', ''])
    assert.throws(() => parseDuration(bad), /not a duration: ".*" \(use e\.g\. 30s, 5m, 2h, 7d\)/);
});

test('what people read: the two largest units that matter', () => {
  assert.deepEqual([0, 999.4, 1000, 59_949, 60_000, 61_500, 3_599_000, 3_600_000, 90_061_000].map(formatDuration), [
    '0ms',
    '999ms',
    '1.0s',
    '59.9s',
    '1m0s',
    '1m2s',
    '59m59s',
    '1h0m',
    '25h1m',
  ]);
});
