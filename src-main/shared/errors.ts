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
  | 'cancelled'
  | 'engine'
  | 'memory'
  | 'unavailable';

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
  | 'too-large' // over the pixel limit that protects memory
  | 'outside-roi'; // the type's region of interest misses the image entirely

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

/**
 * A step that would not fit the engine's memory (the wasm heap, a GPU's buffer limit), refused
 * before it started: a step that runs out inside a kernel can take the whole process down.
 */
export class MemoryLimitError extends DefectScopeError {
  /** The batch that was asked for. */
  readonly batchSize: number;
  /** The largest batch that fits; 0 when not even one image does. */
  readonly fits: number;
  constructor(message: string, batchSize: number, fits: number) {
    super('memory', message);
    this.name = 'MemoryLimitError';
    this.batchSize = batchSize;
    this.fits = fits;
  }
}

export class CancelledError extends DefectScopeError {
  constructor(message = 'Cancelled.') {
    super('cancelled', message);
    this.name = 'CancelledError';
  }
}

/** The engine host process could not start, or stopped while it was working. */
export class EngineError extends DefectScopeError {
  /** How the host process ended, when it ended. */
  readonly exit: { code: number | null; signal: string | null } | null;
  constructor(
    message: string,
    exit: { code: number | null; signal: string | null } | null = null,
    options?: { cause?: unknown },
  ) {
    super('engine', message, options);
    this.name = 'EngineError';
    this.exit = exit;
  }
}

/** A call this build of DefectScope declares but does not answer yet. */
export class UnavailableError extends DefectScopeError {
  constructor(message: string) {
    super('unavailable', message);
    this.name = 'UnavailableError';
  }
}

/**
 * An error as it crosses a process boundary (engine host → main, main → renderer): the stable
 * code and the message. 'internal' marks a bug rather than something the user can fix.
 */
export interface WireError {
  code: ErrorCode | 'internal';
  message: string;
}

export function toWireError(error: unknown): WireError {
  if (error instanceof DefectScopeError) return { code: error.code, message: error.message };
  return { code: 'internal', message: `Unexpected error: ${errorMessage(error)}` };
}

/** Rebuilds a typed error on the receiving side, so callers can match on class or code. */
export function fromWireError(wire: WireError): Error {
  switch (wire.code) {
    case 'bad-argument':
      return new BadArgumentError(wire.message);
    case 'not-found':
      return new NotFoundError(wire.message);
    case 'backend':
      return new BackendError(wire.message);
    case 'model':
      return new ModelError(wire.message);
    case 'cancelled':
      return new CancelledError(wire.message);
    case 'engine':
      return new EngineError(wire.message);
    case 'unavailable':
      return new UnavailableError(wire.message);
    case 'internal':
      return new Error(wire.message);
    default:
      return new DefectScopeError(wire.code, wire.message);
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
