// Typed errors a user can meet. Each carries a stable `code` (match on it, never on the text)
// and a message that says what happened and what to do.

export type ErrorCode =
  | 'bad-argument'
  | 'not-found'
  | 'image'
  | 'migration'
  | 'import'
  | 'backend'
  | 'model'
  | 'cancelled';

export class DefectScopeError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DefectScopeError';
    this.code = code;
  }
}

/** Wrong or missing arguments: a command line, an API call, a config value. */
export class BadArgumentError extends DefectScopeError {
  constructor(message: string) {
    super('bad-argument', message);
    this.name = 'BadArgumentError';
  }
}

export class NotFoundError extends DefectScopeError {
  constructor(message: string) {
    super('not-found', message);
    this.name = 'NotFoundError';
  }
}

/** Why one image could not be read. Batches report these per file and carry on. */
export type ImageProblem =
  | 'missing' // vanished between listing and reading
  | 'empty' // zero bytes, often a file still being written
  | 'not-an-image' // not a format we decode
  | 'corrupt' // a known format, but the data is damaged or truncated
  | 'too-large'; // over the pixel limit that protects memory

export class ImageError extends DefectScopeError {
  readonly path: string;
  readonly problem: ImageProblem;
  constructor(path: string, problem: ImageProblem, detail: string, options?: { cause?: unknown }) {
    super('image', `${path}: ${detail}`, options);
    this.name = 'ImageError';
    this.path = path;
    this.problem = problem;
  }
}

/** A schema migration failed; the database stays at `version`. */
export class MigrationError extends DefectScopeError {
  readonly version: number;
  readonly failedMigration: string;
  constructor(version: number, failedMigration: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      'migration',
      `Database upgrade failed at migration ${failedMigration}: ${reason}. ` +
        `The database was left unchanged at schema version ${version}. ` +
        `Keep a copy of the data folder and report this; an older DefectScope still opens it.`,
      { cause },
    );
    this.name = 'MigrationError';
    this.version = version;
    this.failedMigration = failedMigration;
  }
}

export class BackendError extends DefectScopeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('backend', message, options);
    this.name = 'BackendError';
  }
}

export class ModelError extends DefectScopeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('model', message, options);
    this.name = 'ModelError';
  }
}

export class CancelledError extends DefectScopeError {
  constructor(message = 'Cancelled.') {
    super('cancelled', message);
    this.name = 'CancelledError';
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
