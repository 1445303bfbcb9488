// A sweep over a spool whose files all wait behind a store that is down, more of them than it
// lists per run: it lists each page once and ends, rather than listing the same page forever.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PgCluster } from '../lib/devstack/pgcluster';
import { sleep } from '../lib/devstack/procs';
import { archiveWorkflowId, clusterQueue } from '../lib/contracts';
import { TestEnv, waitFor } from './support/env';

const FILES = 4;
let env: TestEnv;
let pg: PgCluster;

before(async () => {
  env = new TestEnv('sweep-backlog');
  await env.startWorker();
  pg = await env.createCluster();
});

after(async () => {
  await env.stack.start('r2');
  await pg?.stop('immediate');
  await env?.close();
});

test('stuck files beyond one listing: the sweep pages through them once and ends', { timeout: 180_000 }, async () => {
  const { cluster, hostId } = env.config;
  const client = await env.client();
  await env.stack.stop('r2');
  try {
    await pg.query('CREATE TABLE t (id int)');
    for (let i = 0; i < FILES; i++) {
      await pg.query('INSERT INTO t SELECT generate_series(1, 1000)');
      await pg.switchWal();
    }
    const stuck = (await waitFor(
      'segments waiting in the spool, each with its archiveSegment running',
      async () => {
        const names = env.spoolFiles().filter((n) => /^[0-9A-F]{24}$/.test(n));
        if (names.length < FILES) return undefined;
        for (const n of names) {
          const d = await client.workflow
            .getHandle(archiveWorkflowId(cluster, n))
            .describe()
            .catch(() => undefined);
          if (d?.status.name !== 'RUNNING') return undefined;
        }
        return names;
      },
      60_000,
      1_000,
    ))!;
    const workflowId = `archive-sweep/${cluster}/backlog`;
    const handle = await client.workflow.start('archiveSweep', {
      taskQueue: clusterQueue(cluster),
      workflowId,
      args: [{ cluster, hostId, limit: 1 }],
    });
    const last = await Promise.race([handle.result() as Promise<{ skipped: number }>, sleep(45_000)]);
    let runs = 0;
    for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowId}'` }))
      if (w.workflowId === workflowId) runs++;
    if (!last) await client.workflow.getHandle(workflowId).terminate('spinning');
    assert.ok(last, `the sweep has not ended after 45s and ${runs} runs`);
    assert.ok(runs <= stuck.length + 1, `one run per page: ${runs} runs for ${stuck.length} files`);
    assert.equal(last.skipped, 1, 'its last page: a file whose archiveSegment runs already');
  } finally {
    await env.stack.start('r2');
  }
});
