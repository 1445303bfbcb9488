// walflow dev up | down | env
import * as fs from 'node:fs';
import { loadConfig } from '../../lib/config';
import { openStack, Stack, stackDown, stackUp, TEMPORAL_PORT } from '../../lib/devstack/stack';
import { UserError } from '../../lib/errors';

export async function up(dir: string): Promise<void> {
  // Schedules before the worker, so that it starts under the applied policy.
  const stack = await stackUp({ dir, worker: false, familiarPorts: true });
  process.stdout.write(describeStack(stack) + 'schedules (walflow schedules apply):\n');
  await (await import('./schedules')).apply(loadConfig(stack.env()));
  await stack.start('worker');
}

/** Where everything is, and how the `temporal` CLI reaches it. */
export function describeStack(stack: Stack): string {
  const { ports, cluster, hostId } = stack.state;
  const familiar = ports.temporal === TEMPORAL_PORT;
  return [
    `walflow dev stack is up in ${stack.dir}`,
    `  Temporal      127.0.0.1:${ports.temporal}${familiar ? '' : `   (${TEMPORAL_PORT} was taken)`}`,
    `  Web UI        ${stack.uiUrl}`,
    `  S3 r2         http://127.0.0.1:${ports.r2}   (bucket walflow, prefix walflow)`,
    `  S3 b2         http://127.0.0.1:${ports.b2}   (bucket walflow, prefix walflow)`,
    `  catalog       postgres://postgres@127.0.0.1:${ports.catalog}/postgres`,
    `  worker        cluster ${cluster}, host ${hostId}, log ${stack.log('worker')}`,
    `  spool         ${stack.spoolDir}`,
    `  logs          ${stack.logDir}`,
    `settings: ${stack.envFile}  (source it, or pass --env-file)`,
    `temporal CLI: temporal workflow list${familiar ? '' : ` --address 127.0.0.1:${ports.temporal}`}`,
    '',
  ].join('\n');
}

export async function down(dir: string): Promise<void> {
  const stopped = await stackDown(dir);
  process.stdout.write(stopped.length ? `stopped: ${stopped.join(', ')}\n` : `nothing was running in ${dir}\n`);
}

export function env(dir: string): void {
  const stack = openStack(dir);
  if (!fs.existsSync(stack.envFile)) throw new UserError(`no ${stack.envFile}; run 'walflow dev up'`);
  process.stdout.write(fs.readFileSync(stack.envFile, 'utf8'));
}
