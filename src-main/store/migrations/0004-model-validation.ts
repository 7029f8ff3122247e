// Each model version keeps its validation images' scores, with their truth, so its page can
// draw its curves from the day it was fitted (ModelValidationDto; null for models fitted before).
import type { Database } from 'better-sqlite3';

export function up(db: Database): void {
  db.exec(`ALTER TABLE models ADD COLUMN validation TEXT;`);
}
