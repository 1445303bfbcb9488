// libpq connection strings, in both of their forms: `postgres://user:pw@host/db?k=v` URLs and
// `host=h port=5432 password='p w'` keyword lists. node-postgres reads URLs only, and a password
// must never reach a command line (`ps` shows argv to every user of the host), so walflow keeps
// one URL form and takes the password out of it before starting a PostgreSQL program.

/** A URL, of any scheme: libpq refuses one that is not postgres:// or postgresql://. */
const URL_FORM = /^[a-z][a-z0-9+.-]*:\/\//i;

/** The keyword/value pairs of a key=value connection string, read as libpq reads them. */
function parseKeyValue(s: string): [string, string][] {
  const pairs: [string, string][] = [];
  let i = 0;
  const blank = () => {
    while (i < s.length && /\s/.test(s[i])) i++;
  };
  for (blank(); i < s.length; blank()) {
    const start = i;
    while (i < s.length && !/[\s=]/.test(s[i])) i++;
    const key = s.slice(start, i);
    blank();
    // Never the text itself in a message: a misspelt line may hold the password.
    if (s[i] !== '=' || !key) throw new Error(`keyword ${pairs.length + 1} has no "=" (e.g. host=/run/postgresql)`);
    i++;
    blank();
    let value = '';
    const quoted = s[i] === "'";
    if (quoted) i++;
    for (; i < s.length; i++) {
      if (quoted ? s[i] === "'" : /\s/.test(s[i])) break;
      if (s[i] === '\\' && i + 1 < s.length) i++;
      value += s[i];
    }
    if (quoted) {
      if (s[i] !== "'") throw new Error(`the quoted value of ${key} has no closing quote`);
      i++;
    }
    pairs.push([key, value]);
  }
  return pairs;
}

/**
 * A connection string as a URL that libpq and node-postgres both read: a URL as given, a
 * key=value list with every keyword as a query parameter (dbname as the path).
 */
export function conninfoUrl(s: string): string {
  if (URL_FORM.test(s)) return s;
  const pairs = parseKeyValue(s);
  if (!pairs.length) throw new Error('empty');
  const dbname = pairs.filter(([k]) => k === 'dbname').pop()?.[1] ?? '';
  const query = pairs
    .filter(([k]) => k !== 'dbname')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  return `postgresql:///${encodeURIComponent(dbname)}${query ? `?${query}` : ''}`;
}

/** Takes the password parameter out of a URL's query, the others left as written; returns it. */
function takePassword(u: URL): string | undefined {
  let password: string | undefined;
  // Taken apart by hand: URLSearchParams would write spaces as '+', which libpq does not decode.
  const kept: string[] = [];
  for (const param of u.search.slice(1).split('&').filter(Boolean)) {
    const eq = param.indexOf('=');
    if (eq > 0 && decodeURIComponent(param.slice(0, eq)) === 'password')
      password = decodeURIComponent(param.slice(eq + 1));
    else kept.push(param);
  }
  u.search = kept.join('&');
  return password;
}

/** A connection string (either form) as a URL without its password, and the password. */
export function splitPassword(s: string): { url: string; password: string | undefined } {
  const u = new URL(conninfoUrl(s));
  const inUserInfo = u.password ? decodeURIComponent(u.password) : undefined;
  u.password = '';
  const password = takePassword(u) ?? inUserInfo;
  return { url: u.toString(), password };
}

/** A connection string as it may be shown: in the form given, its password (if any) replaced by `hidden`. */
export function hidePassword(s: string, hidden: string): string {
  if (URL_FORM.test(s)) {
    const u = new URL(s);
    if (u.password) u.password = hidden;
    if (takePassword(u) !== undefined) u.search += `${u.search ? '&' : ''}password=${hidden}`;
    return u.toString();
  }
  return parseKeyValue(s)
    .map(([k, v]) => `${k}=${k === 'password' ? hidden : `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`}`)
    .join(' ');
}
