// Part of `npm run build`: the workflow bundle every worker loads instead of bundling at start.
import { WORKFLOW_BUNDLE, writeWorkflowBundle } from '../workers/bundle';

writeWorkflowBundle().then(
  () => process.stderr.write(`workflow bundle: ${WORKFLOW_BUNDLE}\n`),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
