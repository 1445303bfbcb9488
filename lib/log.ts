// Structured JSON logs (one line per event) for the worker and long-running commands.
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(
  level = process.env.WALFLOW_LOG_LEVEL ?? 'info',
  bindings: Record<string, unknown> = {},
): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings }, timestamp: pino.stdTimeFunctions.isoTime });
}
