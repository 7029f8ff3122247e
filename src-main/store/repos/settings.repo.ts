// Settings as key → JSON value. The repo stores what it is given; the settings handler owns the
// schema and the defaults, so an unknown or outdated stored value never breaks start-up.
import type { Database } from 'better-sqlite3';

export class SettingsRepo {
  private readonly allStatement;
  private readonly upsert;

  constructor(private readonly db: Database) {
    this.allStatement = db.prepare<[], { key: string; value: string }>(
      'SELECT key, value FROM settings',
    );
    this.upsert = db.prepare<[string, string, string]>(`
      INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`);
  }

  /** Every stored setting; a value that is not valid JSON comes back as undefined. */
  all(): Record<string, unknown> {
    const values: Record<string, unknown> = {};
    for (const { key, value } of this.allStatement.all()) {
      try {
        values[key] = JSON.parse(value);
      } catch {
        values[key] = undefined;
      }
    }
    return values;
  }

  set(values: Record<string, unknown>): void {
    const at = new Date().toISOString();
    this.db.transaction(() => {
      for (const [key, value] of Object.entries(values)) {
        if (value !== undefined) this.upsert.run(key, JSON.stringify(value), at);
      }
    })();
  }
}
