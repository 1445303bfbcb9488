#!/usr/bin/env node
// The `walflow` command. push and fetch run once per WAL segment, so they are dispatched
// before anything heavy (commander, zod, pg, the AWS SDK, Temporal) is loaded.
import { applyEnvFile } from '../lib/env';
import { UserError } from '../lib/errors';

function fail(e: unknown): never {
  if (e instanceof UserError) {
    process.stderr.write(`walflow: ${e.message}\n`);
    process.exit(e.exitCode);
  }
  process.stderr.write(`walflow: internal error (a bug, please report it): ${(e as Error)?.stack ?? e}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const argv = applyEnvFile(process.argv.slice(2));
  if (argv[0] === 'push') {
    const args = argv.slice(1).filter((a) => a !== '--');
    if (args.length < 1 || args.length > 2) throw new UserError('usage: walflow push <path> [name]   (archive_command = \'walflow push %p %f\')');
    const { push } = require('./push') as typeof import('./push');
    push(args[0], args[1]);
    return;
  }
  if (argv[0] === 'fetch') {
    const args = argv.slice(1).filter((a) => a !== '--');
    if (args.length !== 2) throw new UserError('usage: walflow fetch <name> <dest>   (restore_command = \'walflow fetch %f %p\')');
    const { fetchWal } = require('./fetch') as typeof import('./fetch');
    if ((await fetchWal(args[0], args[1])) === 'missing') process.exit(1);
    return;
  }
  const { run } = await import('./commands');
  await run(argv);
}

main().catch(fail);
