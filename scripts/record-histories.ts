// `npm run record-histories -- --env-file <file> [workflow id ...]`: writes the event history of
// finished workflow runs into test/replay/histories/, where the replay test plays every one
// against the current workflow code. Without ids it takes the newest completed run of each
// workflow type. A file is named after the type, walflow's version and the workflow id, so the
// histories of earlier releases stay: their runs may still be open when a worker is upgraded.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { applyEnvFile, requireEnv } from '../lib/env';
import { historyFileText, REPLAY_HISTORIES, WORKFLOW_TYPES } from '../test/replay/recorded';

const ROOT = path.resolve(__dirname, '..', '..');

async function main(): Promise<void> {
  const ids = applyEnvFile(process.argv.slice(2)).filter((a) => a !== '--');
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const connection = await Connection.connect({ address: requireEnv('TEMPORAL_ADDRESS', 'the Temporal to read from') });
  const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
  try {
    const runs: { workflowId: string; runId?: string }[] = ids.map((workflowId) => ({ workflowId }));
    if (!ids.length) {
      for (const type of WORKFLOW_TYPES) {
        const query = `WorkflowType = '${type}' AND ExecutionStatus = 'Completed'`;
        let found = false;
        for await (const w of client.workflow.list({ query, pageSize: 1 })) {
          runs.push({ workflowId: w.workflowId, runId: w.runId });
          found = true;
          break;
        }
        if (!found) process.stderr.write(`no completed ${type} run in ${client.options.namespace}: skipped\n`);
      }
    }
    for (const { workflowId, runId } of runs) {
      const handle = client.workflow.getHandle(workflowId, runId);
      const { type } = await handle.describe();
      const file = path.join(REPLAY_HISTORIES, `${type}-v${version}-${workflowId.replace(/[^\w.-]+/g, '_')}.json`);
      fs.writeFileSync(file, historyFileText(workflowId, await handle.fetchHistory()));
      process.stdout.write(`${path.relative(ROOT, file)}: ${workflowId}\n`);
    }
  } finally {
    await connection.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`record-histories: ${(e as Error).message}\n`);
  process.exit(1);
});
