// The workflow code a worker runs. `npm run build` bundles it once into dist/workflow-bundle.js,
// so a worker starts without running webpack; a tree built by tsc alone (development) still
// works, bundling at start.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bundleWorkflowCode, WorkflowBundleOption } from '@temporalio/worker';
import type { Logger } from '../lib/log';

/** dist/workflow-bundle.js, next to the compiled workflows it is made from. */
export const WORKFLOW_BUNDLE = path.resolve(__dirname, '..', 'workflow-bundle.js');
const WORKFLOWS = path.resolve(__dirname, '..', 'workflows');

/** webpack's report of the workflow bundle is noise; warnings still show. */
const quietBundler = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => process.stderr.write(`workflow bundle: ${message}\n`),
  error: (message: string) => process.stderr.write(`workflow bundle: ${message}\n`),
};

/** Bundles the workflows module at `workflowsPath` into `outFile`, atomically. */
export async function writeWorkflowBundle(outFile = WORKFLOW_BUNDLE, workflowsPath = WORKFLOWS): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve(workflowsPath), logger: quietBundler });
  const tmp = `${outFile}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, code);
  fs.renameSync(tmp, outFile);
}

export async function loadWorkflowBundle(log: Logger): Promise<WorkflowBundleOption> {
  if (fs.existsSync(WORKFLOW_BUNDLE)) return { codePath: WORKFLOW_BUNDLE };
  log.info(`no prebuilt workflow bundle at ${WORKFLOW_BUNDLE} ('npm run build' makes one): bundling now`);
  return bundleWorkflowCode({ workflowsPath: require.resolve(WORKFLOWS), logger: quietBundler });
}
