// Work only one host can do waits on that host's queue for at most HOST_PICKUP_TIMEOUT. A run
// whose host never picks it up (no worker there, a mistyped host id) fails with this message
// instead of Temporal's bare timeout.
import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/workflow';
import { HOST_PICKUP_TIMEOUT } from '../lib/contracts';

export const HOST_UNAVAILABLE = 'HostUnavailable';

/** The failure to throw for `e`: a host that never picked its work up is named; anything else is as it was. */
export function explainHostFailure(e: unknown, cluster: string, hostId: string): unknown {
  if (!(e instanceof ActivityFailure && e.cause instanceof TimeoutFailure)) return e;
  if (e.cause.timeoutType !== 'SCHEDULE_TO_START') return e;
  return ApplicationFailure.nonRetryable(
    `no worker of host ${hostId} took ${e.activityType} for cluster ${cluster} within ${HOST_PICKUP_TIMEOUT}: ` +
      `start 'walflow worker' on ${hostId} with this cluster's settings, or check the host id`,
    HOST_UNAVAILABLE,
  );
}
