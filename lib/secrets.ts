// Secrets in walflow's settings (store secret keys, passwords in connection strings) and how
// they stay out of what walflow shows: messages, `ps`, child processes.
import { hidePassword, splitPassword } from './conninfo';

const HIDDEN = '***';

/** A connection string as it may be shown: its password replaced. */
export function redactUrl(conninfo: string): string {
  try {
    return hidePassword(conninfo, HIDDEN);
  } catch {
    return conninfo.replace(/:[^:@/]*@/, `:${HIDDEN}@`);
  }
}

/** The password a connection string (URL or key=value) holds, if it holds one. */
function passwordOf(conninfo: string): string | undefined {
  try {
    return splitPassword(conninfo).password || undefined;
  } catch {
    return undefined; // not a connection string: nothing in it to hide
  }
}

/** The secret values among settings: secret keys, passwords, encryption keys, and the passwords in URLs. */
export function secretValues(env: NodeJS.ProcessEnv = process.env): string[] {
  const found: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (!v) continue;
    if (/(SECRET|PASSWORD|API_KEY)/.test(k)) found.push(v);
    if (k === 'WALFLOW_ENCRYPTION_KEYS') found.push(v, ...v.split(',').map((e) => e.slice(e.indexOf(':') + 1).trim()));
    const password = /_URL$/.test(k) ? passwordOf(v) : undefined;
    if (password) found.push(password, encodeURIComponent(password));
  }
  // Longest first, so that a secret holding another is hidden whole.
  return [...new Set(found)].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
}

/** `text` with every secret value of the settings replaced. */
export function redact(text: string, env: NodeJS.ProcessEnv = process.env): string {
  let out = text;
  for (const s of secretValues(env)) out = out.split(s).join(HIDDEN);
  return out;
}

/**
 * A connection string (URL or key=value) for a command line, and its password for the child's
 * environment: `ps` shows argv to every user of the host.
 */
export function passwordToEnv(conninfo: string): { conninfo: string; env: NodeJS.ProcessEnv } {
  const { url, password } = splitPassword(conninfo);
  return { conninfo: url, env: password === undefined ? process.env : { ...process.env, PGPASSWORD: password } };
}
