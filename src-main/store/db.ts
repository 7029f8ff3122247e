// Opens the SQLite store (WAL mode, foreign keys on) and brings its schema up to date. Each
// migration runs in its own transaction and bumps PRAGMA user_version; one that fails rolls
// back, leaves the database at the previous version, and stops start-up with a MigrationError.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import { DefectScopeError, MigrationError } from '../shared/errors.js';
import { migrations as defaultMigrations, type Migration } from './migrations/index.js';

export type { Database };

export function schemaVersion(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

export function migrate(
  db: Database,
  migrations: readonly Migration[] = defaultMigrations,
): number {
  const current = schemaVersion(db);
  if (current > migrations.length) {
    throw new DefectScopeError(
      'migration',
      `This data folder was written by a newer DefectScope (schema ${current}; this version knows ${migrations.length}). Update DefectScope to open it.`,
    );
  }
  for (let version = current + 1; version <= migrations.length; version++) {
    const migration = migrations[version - 1]!;
    try {
      db.transaction(() => {
        migration.up(db);
        db.pragma(`user_version = ${version}`);
      })();
    } catch (error) {
      throw new MigrationError(version - 1, migration.name, error);
    }
  }
  return schemaVersion(db);
}

export function openDatabase(file: string, migrations?: readonly Migration[]): Database {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new BetterSqlite3(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db, migrations);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}
