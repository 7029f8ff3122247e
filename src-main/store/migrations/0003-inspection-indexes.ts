// Inspections learn what they scored with when no model row exists (a zero-shot reference
// folder), whether they watch the folder, and when they ended; results and reviews get the
// indexes the review queue and the worst-first grid sort and filter on.
import type { Database } from 'better-sqlite3';

export function up(db: Database): void {
  db.exec(`
    ALTER TABLE inspections ADD COLUMN model_path TEXT;
    ALTER TABLE inspections ADD COLUMN watch INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE inspections ADD COLUMN finished_at TEXT;
    CREATE INDEX inspections_by_job ON inspections (job_id);
    CREATE INDEX results_by_inspection_score ON results (inspection_id, score);
    CREATE INDEX results_by_decision ON results (decision, inspection_id);
    CREATE INDEX reviews_by_result ON reviews (result_id, id);
  `);
}
