// Inspection results: one row per file of an inspection (UNIQUE (inspection_id, path), so a
// resumed or watching inspection never scores a file twice), with its latest review. Lists are
// paged or iterated row by row, so a 10,000-image inspection is never held in memory at once.
import type { Database } from 'better-sqlite3';
import type {
  Decision,
  InspectionResultDto,
  InspectionResultQuery,
  ReviewQueueRequest,
  ScoredTruthDto,
  Verdict,
} from '../../shared/dto.js';

export interface NewResult {
  inspectionId: number;
  path: string;
  imageId: number | null;
  sha256: string | null;
  modelId: number | null;
  rawScore: number | null;
  score: number | null;
  decision: Decision | null;
  heatmapPath: string | null;
  error: string | null;
}

interface ResultRow {
  id: number;
  inspection_id: number;
  objectType: string | null;
  path: string;
  image_id: number | null;
  model_id: number | null;
  raw_score: number | null;
  score: number | null;
  decision: Decision | null;
  heatmap_path: string | null;
  error: string | null;
  created_at: string;
  sha256: string | null;
  review_id: number | null;
  review_verdict: Verdict | null;
  review_who: string | null;
  review_at: string | null;
  review_note: string | null;
}

/**
 * Worst first: by the 0–1 score, then by the model's own score where the 0–1 score is the same
 * (it stops at 1 far above the threshold, where a camera folder's clear defects all read 1.000);
 * unscorable files last, there is nothing to look at but the reason.
 */
const WORST_FIRST = 'r.score IS NULL, r.score DESC, r.raw_score DESC, r.id';

/** A result row with the numbers a report needs that the DTO leaves out. */
export type StoredResult = InspectionResultDto & { rawScore: number | null; sha256: string | null };

function toDto(row: ResultRow): StoredResult {
  return {
    id: row.id,
    inspectionId: row.inspection_id,
    objectType: row.objectType,
    path: row.path,
    imageId: row.image_id,
    modelId: row.model_id,
    score: row.score,
    decision: row.decision,
    heatmapPath: row.heatmap_path,
    error: row.error,
    createdAt: row.created_at,
    rawScore: row.raw_score,
    sha256: row.sha256,
    review:
      row.review_id === null
        ? null
        : {
            id: row.review_id,
            resultId: row.id,
            verdict: row.review_verdict!,
            who: row.review_who!,
            at: row.review_at!,
            note: row.review_note,
          },
  };
}

const select = `
  SELECT r.id, r.inspection_id, t.name AS objectType, r.path, r.image_id, r.model_id, r.raw_score,
         r.score, r.decision, r.heatmap_path, r.error, r.created_at, r.sha256,
         rv.id AS review_id, rv.verdict AS review_verdict, rv.who AS review_who, rv.at AS review_at,
         rv.note AS review_note
    FROM results r
    JOIN inspections s ON s.id = r.inspection_id
    LEFT JOIN object_types t ON t.id = s.object_type_id
    LEFT JOIN reviews rv ON rv.id = (SELECT MAX(id) FROM reviews WHERE result_id = r.id)`;

const filters = `
   WHERE (@inspectionId IS NULL OR r.inspection_id = @inspectionId)
     AND (@objectType IS NULL OR t.name = @objectType)`;

export interface ResultCounts {
  files: number;
  scored: number;
  ok: number;
  flagged: number;
  unsure: number;
  failed: number;
  reviewed: number;
}

export class ResultsRepo {
  private readonly insertStatement;
  private readonly byId;
  private readonly hasPath;
  private readonly worstFirst;
  private readonly newestFirst;
  private readonly queue;
  private readonly countStatement;
  private readonly allOf;
  private readonly scoresOf;
  private readonly truthOf;
  private readonly linkImage;

  constructor(private readonly db: Database) {
    this.insertStatement = db.prepare<[NewResult & { createdAt: string }], { id: number }>(`
      INSERT INTO results (inspection_id, image_id, path, sha256, model_id, raw_score, score, decision,
                           heatmap_path, error, created_at)
      VALUES (@inspectionId, @imageId, @path, @sha256, @modelId, @rawScore, @score, @decision,
              @heatmapPath, @error, @createdAt)
      ON CONFLICT (inspection_id, path) DO NOTHING
      RETURNING id`);
    this.byId = db.prepare<[number], ResultRow>(`${select} WHERE r.id = ?`);
    this.hasPath = db.prepare<[number, string], { id: number }>(
      'SELECT id FROM results WHERE inspection_id = ? AND path = ?',
    );
    const listParams = `${filters}
     AND (@decisions IS NULL OR r.decision IN (SELECT value FROM json_each(@decisions)))
     AND (@unreadable = 0 OR (r.error IS NOT NULL AND r.score IS NULL))`;
    type ListParams = {
      inspectionId: number | null;
      objectType: string | null;
      decisions: string | null;
      unreadable: 0 | 1;
      limit: number;
      offset: number;
    };
    this.worstFirst = db.prepare<ListParams, ResultRow>(
      `${select} ${listParams} ORDER BY ${WORST_FIRST} LIMIT @limit OFFSET @offset`,
    );
    this.newestFirst = db.prepare<ListParams, ResultRow>(
      `${select} ${listParams} ORDER BY r.id DESC LIMIT @limit OFFSET @offset`,
    );
    // Most uncertain first: closest to the threshold (UNSURE ones, then the marginal DEFECTs),
    // because a verdict there teaches the next model the most and a clear defect is rarely wrong.
    this.queue = db.prepare<
      { inspectionId: number | null; objectType: string | null; limit: number },
      ResultRow
    >(
      `${select} ${filters}
         AND r.decision IN ('DEFECT', 'UNSURE') AND rv.id IS NULL
       ORDER BY ABS(r.score - 0.5), r.id LIMIT @limit`,
    );
    this.countStatement = db.prepare<[number], ResultCounts>(`
      SELECT COUNT(*) AS files,
             COUNT(r.score) AS scored,
             COALESCE(SUM(r.decision = 'OK'), 0) AS ok,
             COALESCE(SUM(r.decision = 'DEFECT'), 0) AS flagged,
             COALESCE(SUM(r.decision = 'UNSURE'), 0) AS unsure,
             COALESCE(SUM(r.error IS NOT NULL AND r.score IS NULL), 0) AS failed,
             (SELECT COUNT(DISTINCT rv.result_id) FROM reviews rv JOIN results x ON x.id = rv.result_id
               WHERE x.inspection_id = r.inspection_id) AS reviewed
        FROM results r WHERE r.inspection_id = ?`);
    this.allOf = db.prepare<[number, number, number], ResultRow>(
      `${select} WHERE r.inspection_id = ? ORDER BY ${WORST_FIRST} LIMIT ? OFFSET ?`,
    );
    this.linkImage = db.prepare<[number, number]>('UPDATE results SET image_id = ? WHERE id = ?');
    this.scoresOf = db.prepare<[number], { score: number }>(
      'SELECT score FROM results WHERE inspection_id = ? AND score IS NOT NULL',
    );
    this.truthOf = db.prepare<[number], { score: number; truth: string }>(`
      SELECT score, truth FROM (
        SELECT r.id, r.score,
               COALESCE(
                 (SELECT verdict FROM reviews WHERE result_id = r.id ORDER BY id DESC LIMIT 1),
                 (SELECT label FROM labels WHERE image_id = r.image_id ORDER BY id DESC LIMIT 1)
               ) AS truth
          FROM results r WHERE r.model_id = ? AND r.score IS NOT NULL)
       WHERE truth IN ('good', 'defect') ORDER BY id`);
  }

  /** Inserts the rows that are new; returns their ids in order (null where the path was scored). */
  insertMany(rows: NewResult[]): (number | null)[] {
    const createdAt = new Date().toISOString();
    return this.db.transaction(() =>
      rows.map((row) => this.insertStatement.get({ ...row, createdAt })?.id ?? null),
    )();
  }

  get(id: number): StoredResult | undefined {
    const row = this.byId.get(id);
    return row ? toDto(row) : undefined;
  }

  has(inspectionId: number, path: string): boolean {
    return this.hasPath.get(inspectionId, path) !== undefined;
  }

  list(query: InspectionResultQuery & { limit: number; offset: number }): StoredResult[] {
    const params = {
      inspectionId: query.inspectionId ?? null,
      objectType: query.objectType ?? null,
      decisions: query.decisions ? JSON.stringify(query.decisions) : null,
      unreadable: query.unreadable ? (1 as const) : (0 as const),
      limit: query.limit,
      offset: query.offset,
    };
    const statement = query.order === 'newest-first' ? this.newestFirst : this.worstFirst;
    return statement.all(params).map(toDto);
  }

  reviewQueue(request: ReviewQueueRequest): StoredResult[] {
    return this.queue
      .all({
        inspectionId: request.inspectionId ?? null,
        objectType: request.objectType ?? null,
        limit: request.limit ?? 100,
      })
      .map(toDto);
  }

  counts(inspectionId: number): ResultCounts {
    return this.countStatement.get(inspectionId)!;
  }

  /**
   * Every result of an inspection, worst first, a page at a time (reports). Pages rather than a
   * statement iterator: an open iterator would lock the connection against every other write
   * (job progress, a running inspection) for as long as the caller awaits between rows.
   */
  *iterate(inspectionId: number, pageSize = 500): Generator<StoredResult> {
    for (let offset = 0; ; offset += pageSize) {
      const rows = this.allOf.all(inspectionId, pageSize, offset);
      for (const row of rows) yield toDto(row);
      if (rows.length < pageSize) return;
    }
  }

  /** Links a result to the image record its verdict labelled; its decision stays as scored. */
  setImage(resultId: number, imageId: number): void {
    this.linkImage.run(imageId, resultId);
  }

  /**
   * Every result `modelId` scored whose truth is known (ScoredTruthDto), in the order scored: all
   * of them, whatever the inspection or how many, as the numbers alone.
   */
  scoredWithTruth(modelId: number): ScoredTruthDto {
    const rows = this.truthOf.all(modelId);
    return {
      scores: rows.map((r) => r.score),
      labels: rows.map((r) => (r.truth === 'defect' ? 1 : 0)),
    };
  }

  /** The 0..1 scores of an inspection (a histogram needs every one, but only the number). */
  scores(inspectionId: number): number[] {
    return this.scoresOf.all(inspectionId).map((r) => r.score);
  }
}
