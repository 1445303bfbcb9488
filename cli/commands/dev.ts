// walflow dev up | down | env
import * as fs from 'node:fs';
import { loadConfig } from '../../lib/config';
import { openStack, stackDown, stackUp } from '../../lib/devstack/stack';
import { UserError } from '../../lib/errors';

export async function up(dir: string): Promise<void> {
  // Schedules before the worker, so that it starts under the applied policy.
  const stack = await stackUp({ dir, worker: false });
  const { ports } = stack.state;
  process.stdout.write([
    `walflow dev stack is up in ${dir}`,
    `  Temporal      127.0.0.1:${ports.temporal}   Web UI ${stack.uiUrl}`,
    `  S3 r2         http://127.0.0.1:${ports.r2}   (bucket walflow)`,
    `  S3 b2         http://127.0.0.1:${ports.b2}   (bucket walflow)`,
    `  catalog       postgres://postgres@127.0.0.1:${ports.catalog}/postgres`,
    `  worker        log ${stack.log('worker')}`,
    `settings: ${stack.envFile}  (source it, or pass --env-file)`,
    'schedules (walflow schedules apply):',
    '',
  ].join('\n'));
  await (await import('./schedules')).apply(loadConfig(stack.env()));
  await stack.start('worker');
}

export async function down(dir: string): Promise<void> {
  const stopped = await stackDown(dir);
  process.stdout.write(stopped.length ? `stopped: ${stopped.join(', ')}\n` : `nothing was running in ${dir}\n`);
}

export async function env(dir: string): Promise<void> {
  const stack = openStack(dir);
  if (!fs.existsSync(stack.envFile)) throw new UserError(`no ${stack.envFile}; run 'walflow dev up'`);
  process.stdout.write(fs.readFileSync(stack.envFile, 'utf8'));
}
