// Typed errors. Only cli/main.ts turns them into exit codes and one-line messages.

/** A problem the user can fix; the message says how. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** The object is not in the store. */
export class NotFoundError extends Error {
  constructor(readonly key: string) {
    super(`not found: ${key}`);
    this.name = 'NotFoundError';
  }
}

/** The object is there but its bytes do not match its metadata or fail authentication: bit rot, tampering, a cut copy. */
export class CorruptObjectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CorruptObjectError';
  }
}

/** Same name, different bytes: never overwrite, a human must look. */
export class ConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

/** A manifest or object written by a newer walflow: refused, never guessed at. */
export class UnknownFormatError extends UserError {
  constructor(what: string, format: unknown, known: number | string) {
    super(
      `${what} is in format ${String(format)}, but this walflow reads format ${known} only: ` +
        'upgrade walflow on this host to read it (it was written by a newer walflow)',
    );
    this.name = 'UnknownFormat';
  }
}
