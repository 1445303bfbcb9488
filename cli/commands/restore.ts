// walflow restore --target-time|--target-lsn|--target-name|--target-xid|--immediate --pgdata DIR | --plan-only
//   [--backup ID] [--timeline N] [--start] [--port N] [--archive] [--wait]
import * as path from 'node:path';
import { MultiBar, Presets, SingleBar } from 'cli-progress';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Config } from '../../lib/config';
import { UserError } from '../../lib/errors';
import { parseInput, restoreInputSchema } from '../../lib/inputs';
import { connectClient, requireClusterWorker, workflowOutcome } from '../../lib/temporal';
import {
  RESTORE_PROGRESS_QUERY,
  RestoreInput,
  RestoreProgress,
  restoreWorkflowId,
  targetOf,
} from '../../lib/contracts';
import { startOptions } from '../../lib/workflowstart';
import type { restore as restoreWorkflow } from '../../workflows/restore';

export interface RestoreOptions {
  targetTime?: string;
  targetLsn?: string;
  targetName?: string;
  targetXid?: string;
  immediate?: boolean;
  timeline?: string;
  stores?: string;
  pgdata?: string;
  planOnly?: boolean;
  backup?: string;
  start?: boolean;
  port?: string;
  archive?: boolean;
  wait?: boolean;
}

export function restoreInput(config: Config, o: RestoreOptions): RestoreInput {
  const given: RestoreInput = {
    targetTime: o.targetTime,
    targetLsn: o.targetLsn,
    targetName: o.targetName,
    targetXid: o.targetXid,
    immediate: o.immediate,
    targetTimeline: o.timeline === undefined || o.timeline === 'latest' ? 'latest' : Number(o.timeline),
    backupId: o.backup,
    ...(o.pgdata !== undefined ? { pgdata: path.resolve(o.pgdata) } : {}),
    ...(o.planOnly ? { planOnly: true } : {}),
    cluster: config.cluster,
    hostId: config.hostId,
    start: o.start ?? false,
    port: o.port === undefined ? undefined : Number(o.port),
    archive: o.archive ?? false,
    ...(o.stores !== undefined
      ? {
          stores: o.stores
            .split(',')
            .map((n) => n.trim())
            .filter(Boolean),
        }
      : {}),
  };
  // The workflow's own schema: the same one-line error as from the `temporal` CLI or the Web UI.
  const parsed = parseInput(restoreInputSchema, given, 'restore');
  if (!parsed.ok) throw new UserError(parsed.message);
  const input = parsed.value;
  const known = config.stores.map((s) => s.name);
  const unknown = input.stores?.filter((n) => !known.includes(n)) ?? [];
  if (input.stores?.length === 0 || unknown.length)
    throw new UserError(`--stores "${o.stores}": name one or more of ${known.join(', ')}`);
  return input;
}

export async function restore(config: Config, o: RestoreOptions): Promise<void> {
  const input = restoreInput(config, o);
  const client = await connectClient(config);
  try {
    await requireClusterWorker(client, config.cluster);
    const workflowId = restoreWorkflowId(config.cluster, targetOf(input), new Date());
    const handle = await client.workflow.start<typeof restoreWorkflow>('restore', {
      ...startOptions({
        kind: 'restore',
        cluster: config.cluster,
        host: config.hostId,
        ...(input.backupId ? { object: input.backupId } : {}),
        workflowId,
        memo: { target: workflowId.split('/')[2], pgdata: input.pgdata ?? null, trigger: 'walflow restore' },
      }),
      args: [input],
    });
    process.stderr.write(`restore started: ${workflowId}\n`);
    if (!o.wait) return;
    const result = await watch(handle);
    const out = [
      input.planOnly
        ? `a restore would use ${result.backupId} (plan only: nothing downloaded or written)`
        : `restored ${result.backupId} into ${result.pgdata}${input.start ? ', promoted' : '; start it with pg_ctl'}`,
      ...result.phases.map(
        (p) =>
          `  ${p.phase.padEnd(9)} ${(p.seconds ?? 0).toFixed(1).padStart(6)}s` +
          `${p.bytes ? `  ${(p.bytes / 2 ** 20).toFixed(1)} MiB` : ''}${p.segments !== undefined ? `  ${p.segments} WAL file(s)` : ''}${p.detail ? `  ${p.detail}` : ''}`,
      ),
      ...(result.reachedLsn
        ? [
            `  reached   ${result.reachedLsn}${result.reachedTime ? ` (last transaction ${result.reachedTime})` : ''}${result.timeline ? `, now timeline ${result.timeline}` : ''}`,
          ]
        : []),
    ];
    process.stdout.write(out.join('\n') + '\n');
  } finally {
    await client.connection.close();
  }
}

/** Progress bars from the workflow's progress query and the running activity's heartbeat. */
async function watch(handle: WorkflowHandle<typeof restoreWorkflow>): Promise<RestoreProgress> {
  const bars = new MultiBar(
    { format: '{phase} {bar} {done}', stream: process.stderr, hideCursor: true, clearOnComplete: false },
    Presets.shades_classic,
  );
  const byPhase = new Map<string, SingleBar>();
  const tick = async () => {
    const p = await handle.query<RestoreProgress>(RESTORE_PROGRESS_QUERY).catch(() => undefined);
    if (!p) return;
    const beat = await heartbeat(handle);
    for (const ph of p.phases) {
      let bar = byPhase.get(ph.phase);
      const payload = { phase: ph.phase.padEnd(9), done: '' };
      if (!bar) {
        bar = bars.create(1, 0, payload);
        byPhase.set(ph.phase, bar);
      }
      const live =
        ph.state === 'running' && beat?.phase === (ph.phase === 'recover' ? 'recovery' : ph.phase) ? beat : undefined;
      if (live?.totalBytes) {
        bar.setTotal(live.totalBytes);
        const checking = live.step === 'verify' ? `, pg_verifybackup ${live.verifySeconds ?? 0}s` : '';
        bar.update(live.bytes ?? 0, { ...payload, done: `${mib(live.bytes)} / ${mib(live.totalBytes)}${checking}` });
      } else if (live?.totalSegments) {
        bar.setTotal(live.totalSegments);
        bar.update(live.segments ?? 0, { ...payload, done: `${live.segments ?? 0} / ${live.totalSegments} WAL files` });
      } else if (ph.state !== 'running') {
        bar.update(bar.getTotal(), {
          ...payload,
          done: ph.state === 'failed' ? 'failed' : `${(ph.seconds ?? 0).toFixed(1)}s`,
        });
      } else {
        bar.update(0, payload);
      }
    }
  };
  // One query at a time, and the last one finished before the caller closes the connection:
  // a query still retrying on a closed channel throws from a timer and kills the process.
  let inFlight: Promise<void> | undefined;
  const timer = setInterval(() => {
    inFlight ??= tick()
      .catch(() => undefined)
      .finally(() => {
        inFlight = undefined;
      });
  }, 500);
  try {
    const r = await workflowOutcome('restore', handle.workflowId, handle.result());
    await tick();
    return r;
  } finally {
    clearInterval(timer);
    await inFlight;
    bars.stop();
  }
}

const mib = (n = 0) => `${(n / 2 ** 20).toFixed(1)} MiB`;

interface Beat {
  phase?: string;
  step?: string;
  verifySeconds?: number;
  bytes?: number;
  totalBytes?: number;
  segments?: number;
  totalSegments?: number;
}

async function heartbeat(handle: WorkflowHandle): Promise<Beat | undefined> {
  try {
    const d = await handle.describe();
    const payload = d.raw.pendingActivities?.[0]?.heartbeatDetails?.payloads?.[0];
    return payload ? defaultPayloadConverter.fromPayload<Beat>(payload) : undefined;
  } catch {
    return undefined;
  }
}
