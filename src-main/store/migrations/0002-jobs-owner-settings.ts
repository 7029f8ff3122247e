// Jobs learn which process runs them (so start-up marks only jobs of dead processes interrupted,
// not those of a desktop app still running beside the CLI) and what they are doing now; and a
// settings table. Lookups by status and kind get indexes: the job list filters on both.
import type { Database } from 'better-sqlite3';

export function up(db: Database): void {
  db.exec(`
    ALTER TABLE jobs ADD COLUMN owner TEXT;
    ALTER TABLE jobs ADD COLUMN progress_message TEXT;
    ALTER TABLE jobs ADD COLUMN updated_at TEXT;
    UPDATE jobs SET updated_at = COALESCE(finished_at, started_at, created_at);
    CREATE INDEX jobs_by_status ON jobs (status);
    CREATE INDEX jobs_by_kind ON jobs (kind, created_at);

    -- One row per setting; the value is JSON, checked against the settings schema when read.
    CREATE TABLE settings (
      key         TEXT PRIMARY KEY,
      value       TEXT NOT NULL,
      updated_at  TEXT NOT NULL
    ) STRICT;
  `);
}
