// The clusters one worker process serves. Without WALFLOW_ENV_FILES: the one cluster the
// environment (and --env-file) describes. With it: one env file per cluster, given as a
// comma-separated list or as a folder whose *.env files are read; each file's settings go on
// top of the environment, which carries what the clusters share (Temporal, log level).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseEnv } from 'node:util';
import { Config, loadConfig } from './config';
import { UserError } from './errors';

function envFiles(spec: string): string[] {
  const given = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (given.length === 1 && fs.statSync(given[0], { throwIfNoEntry: false })?.isDirectory())
    return fs
      .readdirSync(given[0])
      .filter((f) => f.endsWith('.env'))
      .sort()
      .map((f) => path.join(given[0], f));
  return given;
}

function readEnvFile(file: string): Record<string, string> {
  try {
    return parseEnv(fs.readFileSync(file, 'utf8')) as Record<string, string>;
  } catch (e) {
    throw new UserError(
      `WALFLOW_ENV_FILES: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; check the path and that this user may read it`,
    );
  }
}

export function loadClusterConfigs(env: NodeJS.ProcessEnv = process.env): Config[] {
  if (!env.WALFLOW_ENV_FILES) return [loadConfig(env)];
  const files = envFiles(env.WALFLOW_ENV_FILES);
  if (!files.length)
    throw new UserError(
      `WALFLOW_ENV_FILES=${env.WALFLOW_ENV_FILES} names no env file (a list of files, or a folder of *.env)`,
    );
  const configs = files.map((file) => {
    try {
      return loadConfig({ ...env, ...readEnvFile(file) });
    } catch (e) {
      if (e instanceof UserError) throw new UserError(`${file}: ${e.message}`);
      throw e;
    }
  });
  const [first] = configs;
  for (const [i, c] of configs.entries()) {
    const twin = configs.findIndex((o) => o.cluster === c.cluster);
    if (twin !== i)
      throw new UserError(`${files[twin]} and ${files[i]} both serve cluster ${c.cluster}: one file per cluster`);
    if (c.temporalAddress !== first.temporalAddress || c.temporalNamespace !== first.temporalNamespace)
      throw new UserError(
        `${files[i]} names Temporal ${c.temporalAddress}/${c.temporalNamespace}, ${files[0]} ${first.temporalAddress}/${first.temporalNamespace}: one worker serves one namespace; run a worker per namespace`,
      );
  }
  return configs;
}
