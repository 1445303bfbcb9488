// One way for every command to say that a service it needs did not answer: what, at which
// address, and what to do. Only the CLI throws these: in an activity a UserError would stop the
// retries that carry the archive through an outage.
import { UserError } from './errors';
import type { StoreConfig } from './stores/settings';
import { storeSettingPrefix } from './stores/settings';

const NETWORK_CODES = /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EPIPE)$/;

export class UnreachableError extends UserError {
  constructor(what: string, address: string, why: string, fix: string) {
    super(`cannot reach ${what} at ${address} (${why}): ${fix}`);
    this.name = 'UnreachableError';
  }
}

/**
 * The network error code in an error or in what caused it (the AWS SDK and pg wrap them);
 * undefined when the service answered, even with an error.
 */
export function networkFailure(e: unknown, depth = 0): string | undefined {
  if (!e || typeof e !== 'object' || depth > 5) return undefined;
  const { code, cause, errors } = e as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof code === 'string' && NETWORK_CODES.test(code)) return code;
  if (e instanceof Error && /timeout exceeded when trying to connect|connection timeout/i.test(e.message))
    return 'timed out';
  for (const inner of [cause, ...(Array.isArray(errors) ? (errors as unknown[]) : [])]) {
    const found = networkFailure(inner, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** host:port/database of a connection URL: never its user or password. */
export function catalogAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname}`;
  } catch {
    return 'WALFLOW_CATALOG_URL';
  }
}

export const catalogUnreachable = (url: string, why: string) =>
  new UnreachableError('the catalog', catalogAddress(url), why, 'start it, or fix WALFLOW_CATALOG_URL');

export const temporalUnreachable = (address: string, why: string, tls = false) =>
  new UnreachableError(
    'Temporal',
    tls ? `${address} over TLS` : address,
    why,
    tls
      ? 'start it, or fix TEMPORAL_ADDRESS and the TEMPORAL_TLS_* settings'
      : "start it ('walflow dev up' starts a local one), or fix TEMPORAL_ADDRESS",
  );

export function storeUnreachable(cfg: StoreConfig, why: string): UnreachableError {
  const p = storeSettingPrefix(cfg.name);
  if (cfg.type === 'fs') return new UnreachableError(`store ${cfg.name}`, cfg.path, why, `mount it, or fix ${p}PATH`);
  return new UnreachableError(
    `store ${cfg.name}`,
    cfg.endpoint ?? `AWS S3 (${cfg.region})`,
    why,
    `start it, or fix ${p}ENDPOINT`,
  );
}
