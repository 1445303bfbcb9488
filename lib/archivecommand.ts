// Reads PostgreSQL's archive_command as a shell would split it, to tell whether it hands WAL to
// walflow (`<walflow> push %p %f --env-file F`) and with which settings file.

export interface WalflowArchiveCommand {
  /** The program PostgreSQL runs. */
  program: string;
  /** Whether it is called as `push %p %f` (or `push %p`). */
  pushes: boolean;
  envFile: string | undefined;
}

/** Splits a command line into words: single and double quotes, backslash escapes; no expansions. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= '';
    } else if (c === '\\' && i + 1 < line.length) {
      word = (word ?? '') + line[++i];
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The walflow call in an archive_command, or undefined when it runs something else. */
export function parseArchiveCommand(command: string): WalflowArchiveCommand | undefined {
  const words = shellWords(command);
  const at = words.findIndex((w) => /(^|\/)walflow$/.test(w));
  if (at < 0) return undefined;
  const args = words.slice(at + 1);
  let envFile: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--env-file') envFile = args[i + 1];
    else if (args[i].startsWith('--env-file=')) envFile = args[i].slice('--env-file='.length);
  }
  const positional = args.filter((a, i) => !a.startsWith('--env-file') && args[i - 1] !== '--env-file' && a !== '--');
  return { program: words[at], pushes: positional[0] === 'push' && positional[1] === '%p', envFile };
}
