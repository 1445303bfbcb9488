// The next release's workflow code, for the upgrade test: today's workflows, except that
// archiveSegment has gained a step before its first one. The step is behind patched(), as
// every change to a workflow that may be in flight must be: runs started by the previous
// release replay without it, runs started by this one take it.
import { patched, sleep } from '@temporalio/workflow';
import type { ArchiveResult, ArchiveSegmentInput } from '../../lib/contracts';
import { archiveSegment as previousArchiveSegment } from '../../workflows/archive';

export * from '../../workflows';

export const UPGRADE_PATCH = 'upgrade-test-step';

export async function archiveSegment(input: ArchiveSegmentInput): Promise<ArchiveResult> {
  if (patched(UPGRADE_PATCH)) await sleep('10 milliseconds');
  return previousArchiveSegment(input);
}
