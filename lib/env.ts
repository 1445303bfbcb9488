// Loads settings from an env file (--env-file or WALFLOW_ENV_FILE) into process.env.
// Tiny on purpose: `push` and `fetch` use it, and their start-up time is PostgreSQL's time.
import * as fs from 'node:fs';
import { parseEnv } from 'node:util';
import { UserError } from './errors';

/** Removes `--env-file F` / `--env-file=F` from argv and applies the file; real env vars win. */
export function applyEnvFile(argv: string[]): string[] {
  const rest: string[] = [];
  let file = process.env.WALFLOW_ENV_FILE;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--env-file') file = argv[++i];
    else if (a.startsWith('--env-file=')) file = a.slice('--env-file='.length);
    else rest.push(a);
  }
  if (file !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new UserError(
        `cannot read env file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}; check the path and that this user may read it`,
      );
    }
    for (const [k, v] of Object.entries(parseEnv(text))) {
      if (process.env[k] === undefined) process.env[k] = v;
    }
  }
  return rest;
}

/** A required setting, with a message that says what to do. */
export function requireEnv(name: string, hint: string): string {
  const v = process.env[name];
  if (v === undefined || v === '')
    throw new UserError(`${name} is not set: ${hint} (in the environment or the --env-file)`);
  return v;
}
