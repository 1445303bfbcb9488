// Upgrading a worker never breaks a workflow in flight: every recorded history (real runs of this
// release and earlier ones, test/replay/histories/) replays against the current workflow bundle,
// so a change to a workflow's command sequence without patched() fails here. Record new
// histories with `npm run record-histories` when a workflow changes or a type is added.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { createLogger } from '../../lib/log';
import { loadWorkflowBundle } from '../../workers/bundle';
import { recordedHistories, WORKFLOW_TYPES } from '../replay/recorded';

// The replay worker's state changes are noise here; a replay failure is in the assertion.
Runtime.install({ logger: new DefaultLogger('WARN') });

test('every workflow type has a recorded history', () => {
  const recorded = new Set(recordedHistories().map((h) => h.workflowType));
  assert.deepEqual(
    WORKFLOW_TYPES.filter((t) => !recorded.has(t)),
    [],
    'record a history of each new workflow type (npm run record-histories)',
  );
});

test('recorded histories replay against the current workflow code', { timeout: 180_000 }, async () => {
  const histories = recordedHistories();
  const workflowBundle = await loadWorkflowBundle(createLogger('warn'));
  const failures: string[] = [];
  let replayed = 0;
  for await (const r of Worker.runReplayHistories({ workflowBundle, replayName: 'walflow-replay' }, histories)) {
    replayed++;
    const files = histories.filter((h) => h.workflowId === r.workflowId).map((h) => h.file);
    if (r.error) failures.push(`${files.join(' or ')}: ${r.error.message}`);
  }
  assert.equal(replayed, histories.length);
  assert.deepEqual(failures, []);
});
