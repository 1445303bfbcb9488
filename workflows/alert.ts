// Raising an alert from a workflow without waiting on the catalog. The catalog records it and
// delivers it; when the catalog cannot be written within a few attempts, a deliverAlert workflow
// of its own (one per alert at a time) logs and posts it at once and records it when the catalog
// answers again, so the caller carries on and the webhook hears of it only once.
import { ActivityFailure, ParentClosePolicy, proxyActivities, startChild, upsertMemo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { createActivities } from '../activities';
import { AlertInput, alertWorkflowId } from '../lib/contracts';
import { startOptions } from '../lib/workflowstart';

type Activities = ReturnType<typeof createActivities>;

const attempt = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1s', maximumInterval: '5s', maximumAttempts: 3 },
});
const untilDone = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '1 minute' },
});

export async function raise(alert: AlertInput): Promise<void> {
  try {
    await attempt.raiseAlert(alert);
    return;
  } catch (e) {
    if (!(e instanceof ActivityFailure)) throw e;
  }
  try {
    await startChild(deliverAlert, {
      ...startOptions({ kind: 'alert', cluster: alert.cluster, workflowId: alertWorkflowId(alert.cluster, alert.key) }),
      args: [alert],
      parentClosePolicy: ParentClosePolicy.ABANDON,
    });
  } catch (e) {
    if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e; // announced already
  }
}

/** A resolution the catalog cannot take now is made by the next run that finds the condition gone. */
export async function resolve(ref: { cluster: string; key: string }): Promise<void> {
  try {
    await attempt.resolveAlert(ref);
  } catch (e) {
    if (!(e instanceof ActivityFailure)) throw e;
  }
}

export async function deliverAlert(alert: AlertInput): Promise<void> {
  upsertMemo({ cluster: alert.cluster, alert: alert.key, state: 'announcing: the catalog cannot be written' });
  const announced = await attempt.announceAlert(alert).catch((e) => {
    if (e instanceof ActivityFailure) return false;
    throw e;
  });
  upsertMemo({ state: `${announced ? 'announced' : 'webhook unreachable'}; recording once the catalog answers` });
  await untilDone.raiseAlert({ ...alert, announced });
  upsertMemo({ state: 'recorded' });
}
