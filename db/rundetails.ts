// The long lists of a retention or verify run, in the catalog (table run_details) where any
// worker and the CLI can reach them: workflows carry a RunRef and counts instead, so that no
// payload grows with the archive. Items of a section are numbered from 0 in the order they were
// found; a retried activity drops what it wrote after its last checkpoint and goes on from there.
import type { Context } from '@temporalio/activity';
import { and, asc, eq, gt, gte, lt } from 'drizzle-orm';
import type { RunRef } from '../lib/contracts';
import type { Catalog } from './client';
import { runDetails } from './schema';

const PAGE = 1000;

/** The run an activity belongs to: where its long lists go. */
export function runOf(ctx: Context): RunRef {
  const run = ctx.info.workflowExecution;
  if (!run)
    throw new Error(
      `${ctx.info.activityType} runs only within a workflow: its lists are kept under the workflow's run`,
    );
  return { workflowId: run.workflowId, runId: run.runId };
}

/** Next item number per section: a checkpoint of what has been written. */
export type DetailCounts = Record<string, number>;

/** Buffers a run's items and writes them in batches; `flush` before every checkpoint. */
export class DetailWriter {
  private pending: { section: string; seq: number; item: unknown }[] = [];

  private constructor(
    private readonly db: () => Catalog,
    private readonly run: RunRef,
    private readonly counts: DetailCounts,
  ) {}

  /** Continues after `checkpoint` (nothing when absent): items written after it are dropped, to be found again. */
  static async resume(
    db: () => Catalog,
    run: RunRef,
    sections: string[],
    checkpoint?: DetailCounts,
  ): Promise<DetailWriter> {
    const counts: DetailCounts = {};
    for (const section of sections) {
      counts[section] = checkpoint?.[section] ?? 0;
      await db()
        .delete(runDetails)
        .where(
          and(eq(runDetails.runId, run.runId), eq(runDetails.section, section), gte(runDetails.seq, counts[section])),
        );
    }
    return new DetailWriter(db, run, counts);
  }

  add(section: string, item: unknown): void {
    this.pending.push({ section, seq: this.counts[section]++, item });
  }

  count(section: string): number {
    return this.counts[section];
  }

  /** Writes what is buffered; returns the checkpoint to heartbeat. */
  async flush(): Promise<DetailCounts> {
    while (this.pending.length) {
      const batch = this.pending.splice(0, PAGE);
      await this.db()
        .insert(runDetails)
        .values(batch.map((b) => ({ ...this.run, ...b, item: b.item as object })))
        .onConflictDoNothing();
    }
    return { ...this.counts };
  }
}

/** A section's items in order, after item `afterSeq`, a page at a time. */
export async function* readDetails<T>(
  db: () => Catalog,
  run: RunRef,
  section: string,
  afterSeq = -1,
): AsyncIterable<{ seq: number; item: T }> {
  for (let after = afterSeq; ;) {
    const rows = await db()
      .select({ seq: runDetails.seq, item: runDetails.item })
      .from(runDetails)
      .where(and(eq(runDetails.runId, run.runId), eq(runDetails.section, section), gt(runDetails.seq, after)))
      .orderBy(asc(runDetails.seq))
      .limit(PAGE);
    for (const r of rows) yield { seq: r.seq, item: r.item as T };
    if (rows.length < PAGE) return;
    after = rows[rows.length - 1].seq;
  }
}

/** The first `n` items of a section: the examples a workflow result carries. */
export async function firstDetails<T>(db: () => Catalog, run: RunRef, section: string, n: number): Promise<T[]> {
  const rows = await db()
    .select({ item: runDetails.item })
    .from(runDetails)
    .where(and(eq(runDetails.runId, run.runId), eq(runDetails.section, section)))
    .orderBy(asc(runDetails.seq))
    .limit(n);
  return rows.map((r) => r.item as T);
}

export async function readAllDetails<T>(db: () => Catalog, run: RunRef, section: string): Promise<T[]> {
  const items: T[] = [];
  for await (const d of readDetails<T>(db, run, section)) items.push(d.item);
  return items;
}

/** Details outlive their run by this long (days): enough to read a report, not to grow forever. */
export const DETAILS_KEPT_DAYS = 30;

export async function dropDetailsOlderThan(db: () => Catalog, before: Date): Promise<void> {
  await db().delete(runDetails).where(lt(runDetails.createdAt, before));
}
