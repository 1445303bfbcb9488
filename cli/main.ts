#!/usr/bin/env node
// The `walflow` command. push and fetch run once per WAL segment, so they are dispatched
// before anything heavy (commander, zod, pg, the AWS SDK, Temporal) is loaded.
import { applyEnvFile } from '../lib/env';
import { UserError } from '../lib/errors';
import { redact } from '../lib/secrets';

/** Whatever went wrong, no setting's secret reaches the terminal or PostgreSQL's log. */
function fail(e: unknown): never {
  if (e instanceof UserError) {
    process.stderr.write(`walflow: ${redact(e.message)}\n`);
    process.exit(e.exitCode);
  }
  process.stderr.write(
    `walflow: internal error (a bug, please report it): ${redact(e instanceof Error ? (e.stack ?? e.message) : String(e))}\n`,
  );
  process.exit(2);
}

async function main(): Promise<void> {
  if (process.argv[2] === 'fetch') {
    // restore_command: its exit status is its contract with PostgreSQL, so fetch maps every
    // outcome itself, a bad --env-file included.
    const { fetchCommand } = await import('./fetch');
    process.exit(await fetchCommand(process.argv.slice(3)));
  }
  const argv = applyEnvFile(process.argv.slice(2));
  if (argv[0] === 'push') {
    const args = argv.slice(1).filter((a) => a !== '--');
    if (args.length < 1 || args.length > 2)
      throw new UserError("usage: walflow push <path> [name]   (archive_command = 'walflow push %p %f')");
    const { push } = await import('./push');
    push(args[0], args[1]);
    return;
  }
  if (argv[0] === 'recovery-end') {
    const args = argv.slice(1).filter((a) => a !== '--');
    const at = args.indexOf('--forget');
    const forget = at >= 0 ? args.splice(at, 2)[1] : undefined;
    if (args.length > 1 || (at >= 0 && !forget))
      throw new UserError(
        'usage: walflow recovery-end [pgdata] [--forget FILE]   (recovery_end_command, written by walflow restore)',
      );
    const { recoveryEnd } = await import('./recoveryend');
    await recoveryEnd(args[0], forget);
    return;
  }
  const { run } = await import('./commands');
  await run(argv);
}

main().catch(fail);
