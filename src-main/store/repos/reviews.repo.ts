// Reviews: the inspector's verdict on one result, with who, when and an optional note. A result
// may be reviewed again; the newest review is its current verdict, older ones stay as history.
import type { Database } from 'better-sqlite3';
import type { ReviewDto, Verdict } from '../../shared/dto.js';

interface ReviewRow {
  id: number;
  result_id: number;
  verdict: Verdict;
  who: string;
  at: string;
  note: string | null;
}

function toDto(row: ReviewRow): ReviewDto {
  return {
    id: row.id,
    resultId: row.result_id,
    verdict: row.verdict,
    who: row.who,
    at: row.at,
    note: row.note,
  };
}

export class ReviewsRepo {
  private readonly insertStatement;
  private readonly byId;
  private readonly forResult;

  constructor(db: Database) {
    this.insertStatement = db.prepare<[number, Verdict, string, string, string | null]>(
      'INSERT INTO reviews (result_id, verdict, who, at, note) VALUES (?, ?, ?, ?, ?)',
    );
    this.byId = db.prepare<[number], ReviewRow>('SELECT * FROM reviews WHERE id = ?');
    this.forResult = db.prepare<[number], ReviewRow>(
      'SELECT * FROM reviews WHERE result_id = ? ORDER BY id',
    );
  }

  add(review: { resultId: number; verdict: Verdict; who: string; note: string | null }): ReviewDto {
    const id = Number(
      this.insertStatement.run(
        review.resultId,
        review.verdict,
        review.who,
        new Date().toISOString(),
        review.note,
      ).lastInsertRowid,
    );
    return toDto(this.byId.get(id)!);
  }

  /** Every review of a result, oldest first (the audit trail). */
  history(resultId: number): ReviewDto[] {
    return this.forResult.all(resultId).map(toDto);
  }
}
