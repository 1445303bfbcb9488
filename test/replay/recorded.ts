// Where recorded workflow histories live, how they are written and read, and which workflow
// types need one. The files hold protobufjs's plain-object form of a History, written and
// read by @temporalio/proto itself: the SDK's historyToJSON/historyFromJSON fail in an install
// where @temporalio/common and @temporalio/proto each carry their own protobufjs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HistoryAndWorkflowId } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import * as workflows from '../../workflows';

type History = temporal.api.history.v1.IHistory;
const { History } = temporal.api.history.v1;

/** In the source tree: they are data, not compiled. */
export const REPLAY_HISTORIES = path.resolve(__dirname, '..', '..', '..', 'test', 'replay', 'histories');

/** Every workflow type the worker serves: each exported function of the bundle entry. */
export const WORKFLOW_TYPES = Object.keys(workflows).sort();

export interface RecordedHistory extends HistoryAndWorkflowId {
  file: string;
  workflowType: string;
}

/** A file: the run's workflow id (workflows derive child ids from it) and its history. */
interface HistoryFile {
  workflowId: string;
  history: Record<string, unknown>;
}

export function recordedHistories(): RecordedHistory[] {
  return fs
    .readdirSync(REPLAY_HISTORIES)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const recorded = JSON.parse(fs.readFileSync(path.join(REPLAY_HISTORIES, file), 'utf8')) as HistoryFile;
      const history = History.fromObject(recorded.history);
      const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
      return { file, workflowId: recorded.workflowId, workflowType: started?.workflowType?.name ?? '?', history };
    });
}

export function historyFileText(workflowId: string, history: History): string {
  const plain = History.toObject(History.fromObject(history), { longs: String, enums: String, bytes: String });
  return JSON.stringify({ workflowId, history: plain } satisfies HistoryFile, null, 2) + '\n';
}
