// The workflow code a worker runs. `npm run build` bundles it once into dist/workflow-bundle.js,
// so a worker starts without running webpack; a tree built by tsc alone (development), where
// the bundle is missing or older than the compiled workflows, still works, bundling at start.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BundleOptions, bundleWorkflowCode, WorkflowBundleOption } from '@temporalio/worker';
import type { Logger } from '../lib/log';

/** dist/workflow-bundle.js, next to the compiled workflows it is made from. */
export const WORKFLOW_BUNDLE = path.resolve(__dirname, '..', 'workflow-bundle.js');
const WORKFLOWS = path.resolve(__dirname, '..', 'workflows');
const LIB = path.resolve(__dirname, '..', 'lib');

/** webpack's report of the workflow bundle is noise; warnings still show. */
const quietBundler = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => process.stderr.write(`workflow bundle: ${message}\n`),
  error: (message: string) => process.stderr.write(`workflow bundle: ${message}\n`),
};

/**
 * Each Worker's workflow thread parses the bundle's source map. Without the sources inside it
 * (unused: stack traces still map to file and line) the four Workers of a process take about
 * 80 MB less.
 */
const bundleOptions = (workflowsPath: string): BundleOptions => ({
  workflowsPath: require.resolve(workflowsPath),
  logger: quietBundler,
  webpackConfigHook: (config) => ({ ...config, devtool: 'inline-nosources-source-map' }),
});

/** Bundles the workflows module at `workflowsPath` into `outFile`, atomically. */
export async function writeWorkflowBundle(outFile = WORKFLOW_BUNDLE, workflowsPath = WORKFLOWS): Promise<void> {
  const { code } = await bundleWorkflowCode(bundleOptions(workflowsPath));
  const tmp = `${outFile}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, code);
  fs.renameSync(tmp, outFile);
}

/** Newest change to what the bundle is made of: the workflows and the lib modules they may import. */
function newestSourceMs(): number {
  let newest = 0;
  for (const dir of [WORKFLOWS, LIB])
    for (const f of fs.readdirSync(dir))
      if (f.endsWith('.js')) newest = Math.max(newest, fs.statSync(path.join(dir, f)).mtimeMs);
  return newest;
}

export async function loadWorkflowBundle(log: Logger): Promise<WorkflowBundleOption> {
  const builtMs = fs.statSync(WORKFLOW_BUNDLE, { throwIfNoEntry: false })?.mtimeMs;
  // A stale bundle would run yesterday's workflows beside today's activities.
  if (builtMs !== undefined && builtMs >= newestSourceMs()) return { codePath: WORKFLOW_BUNDLE };
  log.info(
    `${builtMs === undefined ? 'no' : 'an outdated'} workflow bundle at ${WORKFLOW_BUNDLE} ` +
      `('npm run build' makes one): bundling now`,
  );
  return bundleWorkflowCode(bundleOptions(WORKFLOWS));
}
