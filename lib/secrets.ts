// Secrets in walflow's settings (store secret keys, passwords in connection URLs) and how they
// stay out of what walflow shows: messages, `ps`, child processes.

const HIDDEN = '***';

/** A connection URL as it may be shown: its password replaced. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = HIDDEN;
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, `:${HIDDEN}@`);
  }
}

/** The secret values among settings: secret keys, passwords, encryption keys, and the passwords in URLs. */
export function secretValues(env: NodeJS.ProcessEnv = process.env): string[] {
  const found: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (!v) continue;
    if (/(SECRET|PASSWORD|API_KEY)/.test(k)) found.push(v);
    if (k === 'WALFLOW_ENCRYPTION_KEYS') found.push(v, ...v.split(',').map((e) => e.slice(e.indexOf(':') + 1).trim()));
    if (/_URL$/.test(k)) {
      try {
        const password = new URL(v).password;
        if (password) found.push(password, decodeURIComponent(password));
      } catch {
        /* not a URL: nothing in it to hide */
      }
    }
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

/** A libpq URL for a command line, and its password for the child's environment: `ps` shows argv. */
export function passwordToEnv(url: string): { conninfo: string; env: NodeJS.ProcessEnv } {
  try {
    const u = new URL(url);
    if (!u.password) return { conninfo: url, env: process.env };
    const password = decodeURIComponent(u.password);
    u.password = '';
    return { conninfo: u.toString(), env: { ...process.env, PGPASSWORD: password } };
  } catch {
    return { conninfo: url, env: process.env }; // key=value form: passed as given
  }
}
