// verify: proves every WAL copy in every store, mends what a healthy store can mend, and
// alerts on what it cannot (and on gaps). Its lists are in the catalog (db/rundetails.ts): the
// result carries counts and the first few of each. Daily by Schedule, or `walflow verify [--deep]`.
import { proxyActivities, upsertMemo, workflowInfo } from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { verifyInputSchema } from '../lib/inputs';
import { validInput } from './input';
import { recoverableMemo } from './recoverable';
import type { VerifyInput, VerifySummary } from '../lib/contracts';

type Activities = ReturnType<typeof createActivities>;

const MAX_CONFLICT_ALERTS = 20;

const { verifyArchive } = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '10s', maximumInterval: '5 minutes' },
});
const catalog = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

export async function verify(input: VerifyInput): Promise<VerifySummary> {
  validInput(verifyInputSchema, input, 'verify');
  const { cluster } = input;
  const deep = input.deep ?? false;
  const repair = input.repair ?? true;
  const startedAt = new Date(workflowInfo().startTime).toISOString();
  upsertMemo({ cluster, deep, repair, state: 'verifying' });
  const report = await verifyArchive({ cluster, deep, repair });
  const { counts } = report;
  const failed = counts.unrepairable > 0;

  if (failed) {
    await catalog.raiseAlert({
      cluster,
      key: 'verify-failure',
      kind: 'verify-failure',
      message: `verify found ${counts.unrepairable} WAL object(s) no store holds intact, e.g. ${report.unrepairable[0]}`,
      details: { unrepairable: report.unrepairable.slice(0, 20) },
    });
  } else {
    await catalog.resolveAlert({ cluster, key: 'verify-failure' });
  }
  // Same key as the archive workflow's alert for that file: one open alert per conflicting name.
  for (const c of report.conflicts.slice(0, MAX_CONFLICT_ALERTS)) {
    await catalog.raiseAlert({
      cluster,
      key: `content-conflict:${c.name}`,
      kind: 'content-conflict',
      message: `stores hold different content for ${c.key} (${Object.entries(c.copies)
        .map(([s, h]) => `${s} sha256 ${h}`)
        .join(
          ', ',
        )}) and no catalog record says which is right; verify repaired nothing: compare the copies and delete the wrong one`,
      details: { key: c.key, copies: c.copies },
    });
  }
  if (counts.gaps) {
    const g = report.gaps[0];
    await catalog.raiseAlert({
      cluster,
      key: 'archive-gap',
      kind: 'archive-gap',
      message: `the archive has ${counts.gaps} gap(s) in the WAL, e.g. timeline ${g.timeline} ${g.from}..${g.to}; a restore cannot cross them`,
      details: { gaps: report.gaps.slice(0, 20) },
    });
  } else {
    await catalog.resolveAlert({ cluster, key: 'archive-gap' });
  }
  const outcome = failed || counts.conflicts || counts.gaps ? 'failed' : counts.repaired ? 'repaired' : 'ok';
  const summary = {
    objects: report.objects,
    problems: counts.problems,
    repaired: counts.repaired,
    unrepairable: counts.unrepairable,
    conflicts: counts.conflicts,
    pruned: report.pruned.reduce((n, p) => n + p.files, 0),
    gaps: counts.gaps,
    deep,
    repair,
  };
  upsertMemo({ state: outcome, ...summary });
  await catalog.recordRun({
    cluster,
    kind: 'verify',
    workflowId: workflowInfo().workflowId,
    startedAt,
    outcome,
    summary,
  });
  upsertMemo(await recoverableMemo(cluster));
  return report;
}
