// archiveBatch: the files that piled up in the spool, staged and sent together. The same rules as
// archiveSegment, file by file: a file leaves the spool only once every store (or, asked by a
// full spool, WALFLOW_MIN_COPIES of them) holds a verified copy and the catalog has it. What a
// batch saves is Temporal's work per file: one run, and one upload activity per store, for up
// to ARCHIVE_BATCH_MAX files.
import {
  CancellationScope,
  condition,
  defineUpdate,
  proxyActivities,
  setHandler,
  upsertMemo,
} from '@temporalio/workflow';
import { ArchiveBatchInput, CopyResult, FileRefusal, LEAVE_SPOOL_UPDATE, StagedFile } from '../lib/contracts';
import { archiveBatchInputSchema } from '../lib/inputs';
import { type Activities, local, refuse, upload, uploadWatched } from './archive';
import { validInput } from './input';
import { startOwedCopies } from './owed';

/** The spool-pressure update, naming the file asked to leave (archiveSegment's has one file only). */
export const leaveSpoolFileUpdate = defineUpdate<void, [string]>(LEAVE_SPOOL_UPDATE);

/** Staging a batch: each file waits for a free core, so it takes longer than a local activity may. */
const hostWork = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

export interface ArchiveBatchResult {
  archived: number;
  gone: number;
  refused: number;
  /** Files that left a full spool before every store took them. */
  leftEarly: number;
}

export async function archiveBatch(input: ArchiveBatchInput): Promise<ArchiveBatchResult> {
  validInput(archiveBatchInputSchema, input, 'archiveBatch');
  const { cluster, hostId, names } = input;
  // Each file's state, for an operator looking for one: the memo of the run that holds it.
  const files: Record<string, string> = Object.fromEntries(names.map((n) => [n, 'staging']));
  upsertMemo({ cluster, host: hostId, files, state: 'staging' });
  const result: ArchiveBatchResult = { archived: 0, gone: 0, refused: 0, leftEarly: 0 };

  const staged = (await hostWork.stageBatch({ cluster, names })).filter((s): s is StagedFile => s !== null);
  for (const n of names) {
    if (staged.some((s) => s.name === n)) files[n] = 'uploading';
    else {
      files[n] = 'gone (archived by an earlier run)';
      result.gone++;
    }
  }
  if (!staged.length) {
    upsertMemo({ files, state: 'done' });
    return result;
  }
  const { stores, minCopies, alertUploadFailingMs } = staged[0];
  upsertMemo({ files, state: 'uploading', stores });

  const copies = new Map<string, Map<string, CopyResult>>(staged.map((s) => [s.name, new Map()]));
  const refusals = new Map<string, FileRefusal>();
  const leaving = new Set<string>();
  let failure: Error | undefined;
  setHandler(
    leaveSpoolFileUpdate,
    (name: string) => {
      leaving.add(name);
    },
    {
      validator: (name: string) => {
        const got = copies.get(name);
        if (!got) throw new Error(`${name} is not in this batch`);
        if (got.size < minCopies) throw new Error(`${got.size} of ${minCopies} copies so far`);
      },
    },
  );

  const what = staged.length === 1 ? staged[0].name : `${staged.length} files (${staged[0].name} ..)`;
  const uploads = new CancellationScope();
  void uploads
    .run(() =>
      Promise.all(
        stores.map((store) =>
          uploadWatched(
            cluster,
            store,
            what,
            alertUploadFailingMs,
            upload.uploadBatchToStore({ cluster, store, staged }),
          ).then((r) => {
            for (const [name, c] of Object.entries(r.copies)) copies.get(name)?.set(store, c);
            for (const [name, f] of Object.entries(r.refused)) if (!refusals.has(name)) refusals.set(name, f);
          }),
        ),
      ),
    )
    .catch((e: unknown) => {
      failure ??= e instanceof Error ? e : new Error(String(e));
    });

  const ready = (name: string) => {
    const done = copies.get(name)!.size;
    return refusals.has(name) || done === stores.length || (leaving.has(name) && done >= minCopies);
  };
  const open = new Set(staged.map((s) => s.name));
  let leftEarly = false;
  while (open.size) {
    await condition(() => failure !== undefined || [...open].some(ready));
    // Files not yet finished stay in the spool, for the next run.
    if (failure !== undefined) throw failure;
    const now = staged.filter((s) => open.has(s.name) && ready(s.name));
    for (const s of now) open.delete(s.name);
    const owedStores = new Set<string>();
    await Promise.all(
      now.map(async (s) => {
        const refusal = refusals.get(s.name);
        if (refusal) {
          await refuse(cluster, hostId, s, refusal);
          files[s.name] = `refused: ${refusal.type}`;
          result.refused++;
          return;
        }
        const done = copies.get(s.name)!;
        const owed = stores.filter((store) => !done.has(store));
        // As in archiveSegment: owed copies are in the catalog before the spool copy goes.
        await local.recordArchived({ cluster, staged: s, copies: [...done.values()], owed });
        await local.removeSpoolCopy({ cluster, name: s.name });
        for (const store of owed) owedStores.add(store);
        files[s.name] = owed.length ? `left a full spool; owed to ${owed.join(', ')}` : 'archived';
        if (owed.length) result.leftEarly++;
        else result.archived++;
      }),
    );
    for (const store of owedStores) await startOwedCopies(cluster, store);
    if (owedStores.size) leftEarly = true;
    upsertMemo({ files, state: open.size ? 'uploading' : 'done' });
  }
  // Every file is settled; uploads still running are to a store that the owed copies will reach.
  if (leftEarly) uploads.cancel();
  return result;
}
