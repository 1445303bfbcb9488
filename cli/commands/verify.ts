// walflow verify [--deep] [--json]: runs the verify workflow now and prints its report.
import { withCatalog } from '../../db/client';
import { readAllDetails } from '../../db/rundetails';
import type { Config } from '../../lib/config';
import { UserError } from '../../lib/errors';
import { connectClient, requireClusterWorker, workflowOutcome } from '../../lib/temporal';
import { VERIFY_SECTIONS, VerifyReport, verifyScheduleId, VerifySummary } from '../../lib/contracts';
import { startOptions } from '../../lib/workflowstart';
import type { verify as verifyWorkflow } from '../../workflows/verify';

export async function verify(config: Config, o: { deep?: boolean; json?: boolean }): Promise<void> {
  const client = await connectClient(config);
  try {
    await requireClusterWorker(client, config.cluster);
    const workflowId = `${verifyScheduleId(config.cluster)}/${new Date().toISOString()}`;
    process.stderr.write(
      `verify started: ${workflowId} (${o.deep ? 'deep: downloading every object' : 'metadata and sizes'}; repairing from a healthy store)\n`,
    );
    const summary = await workflowOutcome(
      'verify',
      workflowId,
      client.workflow.execute<typeof verifyWorkflow>('verify', {
        ...startOptions({ kind: 'verify', cluster: config.cluster, workflowId, memo: { trigger: 'walflow verify' } }),
        args: [{ cluster: config.cluster, deep: !!o.deep, repair: true }],
      }),
    );
    const report = await fullReport(config, summary);
    if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else {
      process.stdout.write(
        `${report.objects} WAL objects checked in ${report.stores.join(', ')}${report.deep ? ' (deep)' : ''}\n`,
      );
      for (const p of report.problems) process.stdout.write(`  problem   ${p.store}: ${p.key}: ${p.problem}\n`);
      for (const r of report.repaired) process.stdout.write(`  repaired  ${r.store}: ${r.key}\n`);
      for (const k of report.unrepairable) process.stdout.write(`  LOST      ${k}: no store holds an intact copy\n`);
      for (const g of report.gaps) process.stdout.write(`  GAP       timeline ${g.timeline}: ${g.from} .. ${g.to}\n`);
      for (const c of report.conflicts) process.stdout.write(`  CONFLICT  ${c.key}: copies differ, none repaired\n`);
      for (const p of report.pruned)
        process.stdout.write(`  pruned    ${p.store}: ${p.files} WAL file(s) its retention removed (${p.reason})\n`);
      if (!report.problems.length && !report.gaps.length)
        process.stdout.write('  every copy is present and intact, no gaps\n');
    }
    if (report.unrepairable.length || report.conflicts.length || report.gaps.length) {
      throw new UserError(
        `verify failed: ${report.unrepairable.length} unrepairable, ${report.conflicts.length} conflict(s), ${report.gaps.length} gap(s); see above and 'walflow alerts'`,
      );
    }
  } finally {
    await client.connection.close();
  }
}

/** The run's report with every item of every list, read from the catalog where the run wrote them. */
async function fullReport(config: Config, summary: VerifySummary): Promise<VerifyReport> {
  return withCatalog(config.catalogUrl, async (db) => {
    const { counts: _counts, details, ...report } = summary;
    for (const section of VERIFY_SECTIONS)
      (report[section] as unknown[]) = await readAllDetails(() => db, details, section);
    return report;
  });
}
