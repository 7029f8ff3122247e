// Jobs: long work (import, training, evaluation, retraining, inspection) with its arguments,
// progress, log, result or error. The job registry (src-main/jobs/registry.ts) is the only writer.
import type { Database } from 'better-sqlite3';
import type {
  JobDto,
  JobFailure,
  JobKind,
  JobKinds,
  JobProgress,
  JobQuery,
  JobStatus,
} from '../../shared/dto.js';

/** The log keeps its newest this-many characters: enough for any run, bounded for a long one. */
export const LOG_LIMIT = 256 * 1024;

interface JobRow {
  id: string;
  kind: JobKind;
  status: JobStatus;
  args: string;
  progress_done: number;
  progress_total: number;
  progress_message: string | null;
  result: string | null;
  error: string | null;
  log: string;
  owner: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string | null;
}

export interface StoredJob {
  dto: JobDto;
  /** The process that ran it last ("host/pid"). */
  owner: string | null;
}

function toDto(row: JobRow, live?: Pick<JobProgress, 'rate' | 'etaSeconds'>): JobDto {
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    args: JSON.parse(row.args) as JobKinds[JobKind]['args'],
    progress: {
      done: row.progress_done,
      total: row.progress_total,
      rate: live?.rate ?? null,
      etaSeconds: live?.etaSeconds ?? null,
      message: row.progress_message,
    },
    result: row.result === null ? null : (JSON.parse(row.result) as JobKinds[JobKind]['result']),
    error: row.error === null ? null : (JSON.parse(row.error) as JobFailure),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  } as JobDto;
}

export class JobsRepo {
  private readonly insertStatement;
  private readonly byId;
  private readonly listStatement;
  private readonly logOf;
  private readonly startStatement;
  private readonly requeueStatement;
  private readonly progressStatement;
  private readonly appendLogStatement;
  private readonly finishStatement;
  private readonly unfinishedStatement;
  private readonly byKindStatus;

  constructor(db: Database) {
    this.insertStatement = db.prepare<
      [{ id: string; kind: string; args: string; owner: string; at: string }]
    >(`INSERT INTO jobs (id, kind, status, args, owner, created_at, updated_at)
       VALUES (@id, @kind, 'queued', @args, @owner, @at, @at)`);
    this.byId = db.prepare<[string], JobRow>('SELECT * FROM jobs WHERE id = ?');
    this.listStatement = db.prepare<
      { kinds: string | null; statuses: string | null; limit: number; offset: number },
      JobRow
    >(`
      SELECT * FROM jobs
       WHERE (@kinds IS NULL OR kind IN (SELECT value FROM json_each(@kinds)))
         AND (@statuses IS NULL OR status IN (SELECT value FROM json_each(@statuses)))
       ORDER BY created_at DESC, rowid DESC
       LIMIT @limit OFFSET @offset`);
    this.logOf = db.prepare<[string], { log: string }>('SELECT log FROM jobs WHERE id = ?');
    // A resumed job starts again: its old progress, result and error no longer describe it.
    this.startStatement = db.prepare<[{ id: string; owner: string; at: string }]>(`
      UPDATE jobs SET status = 'running', owner = @owner, started_at = @at, updated_at = @at,
             finished_at = NULL, result = NULL, error = NULL
       WHERE id = @id`);
    this.requeueStatement = db.prepare<[{ id: string; owner: string; at: string }]>(`
      UPDATE jobs SET status = 'queued', owner = @owner, updated_at = @at, finished_at = NULL,
             result = NULL, error = NULL
       WHERE id = @id`);
    this.progressStatement = db.prepare<
      [{ id: string; done: number; total: number; message: string | null; at: string }]
    >(`UPDATE jobs SET progress_done = @done, progress_total = @total, progress_message = @message,
              updated_at = @at
        WHERE id = @id`);
    this.appendLogStatement = db.prepare<[{ id: string; text: string; limit: number }]>(
      `UPDATE jobs SET log = substr(log || @text, -@limit) WHERE id = @id`,
    );
    this.finishStatement = db.prepare<
      [
        {
          id: string;
          status: JobStatus;
          result: string | null;
          error: string | null;
          at: string;
        },
      ]
    >(`UPDATE jobs SET status = @status, result = @result, error = @error, finished_at = @at,
              updated_at = @at
        WHERE id = @id`);
    this.unfinishedStatement = db.prepare<[], JobRow>(
      `SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at`,
    );
    this.byKindStatus = db.prepare<[string, string], JobRow>(
      `SELECT * FROM jobs WHERE kind = ? AND status = ? ORDER BY created_at`,
    );
  }

  insert(job: { id: string; kind: JobKind; args: unknown; owner: string; at: string }): void {
    this.insertStatement.run({ ...job, args: JSON.stringify(job.args) });
  }

  /** The job, with rate and ETA filled in from `live` (only the running process knows them). */
  get(id: string, live?: Pick<JobProgress, 'rate' | 'etaSeconds'>): JobDto | undefined {
    const row = this.byId.get(id);
    return row ? toDto(row, live) : undefined;
  }

  stored(id: string): StoredJob | undefined {
    const row = this.byId.get(id);
    return row ? { dto: toDto(row), owner: row.owner } : undefined;
  }

  log(id: string): string | undefined {
    return this.logOf.get(id)?.log;
  }

  /** Newest first. */
  list(query: JobQuery = {}): JobDto[] {
    return this.listStatement
      .all({
        kinds: query.kinds?.length ? JSON.stringify(query.kinds) : null,
        statuses: query.statuses?.length ? JSON.stringify(query.statuses) : null,
        limit: query.limit ?? -1,
        offset: query.offset ?? 0,
      })
      .map((row) => toDto(row));
  }

  markRunning(id: string, owner: string, at: string): void {
    this.startStatement.run({ id, owner, at });
  }

  /** An interrupted job waits to run again under the same id. */
  requeue(id: string, owner: string, at: string): void {
    this.requeueStatement.run({ id, owner, at });
  }

  setProgress(id: string, progress: Pick<JobProgress, 'done' | 'total' | 'message'>, at: string) {
    this.progressStatement.run({ id, ...progress, at });
  }

  appendLog(id: string, lines: string): void {
    this.appendLogStatement.run({ id, text: lines, limit: LOG_LIMIT });
  }

  finish(
    id: string,
    status: Extract<JobStatus, 'done' | 'failed' | 'cancelled' | 'interrupted'>,
    outcome: { result?: unknown; error?: JobFailure },
    at: string,
  ): void {
    this.finishStatement.run({
      id,
      status,
      result: outcome.result === undefined ? null : JSON.stringify(outcome.result),
      error: outcome.error === undefined ? null : JSON.stringify(outcome.error),
      at,
    });
  }

  /** Queued and running jobs, whichever process they belong to. */
  unfinished(): StoredJob[] {
    return this.unfinishedStatement.all().map((row) => ({ dto: toDto(row), owner: row.owner }));
  }

  withStatus<K extends JobKind>(kind: K, status: JobStatus): JobDto<K>[] {
    return this.byKindStatus.all(kind, status).map((row) => toDto(row) as JobDto<K>);
  }
}
