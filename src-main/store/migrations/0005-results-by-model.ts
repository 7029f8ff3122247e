// Results get the index the Models view's "images it scored in inspections" curves read by: every
// scored result of one model, however many inspections it ran.
import type { Database } from 'better-sqlite3';

export function up(db: Database): void {
  db.exec('CREATE INDEX results_by_model ON results (model_id, score);');
}
