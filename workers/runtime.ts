// The Temporal SDK's process-wide runtime: its logs, from the worker, from workflow and activity
// context loggers and from the native core, go through walflow's pino logger as JSON lines with
// their context (workflow id, run id, activity type, task queue); its metrics go to a loopback
// port that /metrics relays.
import type { LogLevel, LogMetadata, Logger as SdkLogger } from '@temporalio/common';
import { Runtime } from '@temporalio/worker';
import type { Logger } from '../lib/log';

const PINO_LEVEL = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/** The SDK's Logger interface over pino; `sdkComponent` and the context arrive as fields. */
export function sdkLogger(log: Logger): SdkLogger {
  const write = (level: LogLevel, message: string, meta?: LogMetadata) => log[PINO_LEVEL[level]](meta ?? {}, message);
  return {
    log: write,
    trace: (message, meta) => write('TRACE', message, meta),
    debug: (message, meta) => write('DEBUG', message, meta),
    info: (message, meta) => write('INFO', message, meta),
    warn: (message, meta) => write('WARN', message, meta),
    error: (message, meta) => write('ERROR', message, meta),
  };
}

export function installRuntime(log: Logger, sdkMetricsAddress: string | undefined): void {
  // The SDK's debug lines (every task completed) would drown walflow's own debug log.
  const level = log.isLevelEnabled('debug') && log.level !== 'trace' ? 'info' : log.level;
  Runtime.install({
    logger: sdkLogger(log.child({ component: 'temporal' }, { level })),
    shutdownSignals: [], // the worker handles signals itself, across reconnects
    telemetryOptions: {
      // Core's own warnings (poll errors, nondeterminism) belong in the same log.
      logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} },
      ...(sdkMetricsAddress ? { metrics: { prometheus: { bindAddress: sdkMetricsAddress } } } : {}),
    },
  });
}
