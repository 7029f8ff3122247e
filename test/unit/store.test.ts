import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrate, openDatabase, schemaVersion } from '../../src-main/store/db.js';
import { migrations } from '../../src-main/store/migrations/index.js';
import { defaultDataDir, resolveDataDir } from '../../src-main/store/data-dir.js';
import { MigrationError } from '../../src-main/shared/errors.js';
import { openStore } from '../../src-main/store/store.js';
import { tempDir } from '../fixtures/images.js';

const tables = [
  'object_types',
  'images',
  'labels',
  'masks',
  'models',
  'jobs',
  'inspections',
  'results',
  'reviews',
  'settings',
];

describe('store', () => {
  it('migrates an empty database to the latest schema in WAL mode with STRICT tables', () => {
    const file = join(tempDir(), 'db.sqlite');
    const db = openDatabase(file);
    expect(schemaVersion(db)).toBe(migrations.length);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    const rows = db
      .prepare(
        "SELECT name, strict FROM pragma_table_list WHERE schema = 'main' AND name NOT LIKE 'sqlite_%'",
      )
      .all() as {
      name: string;
      strict: number;
    }[];
    expect(rows.map((r) => r.name).sort()).toEqual([...tables].sort());
    expect(rows.every((r) => r.strict === 1)).toBe(true);
    // STRICT rejects a value of the wrong type instead of storing it.
    expect(() =>
      db
        .prepare(
          "INSERT INTO jobs (id, kind, status, args, progress_done, created_at) VALUES ('j', 'k', 'queued', '{}', 'lots', 'now')",
        )
        .run(),
    ).toThrow(/cannot store TEXT value in INTEGER column/);
    db.close();
  });

  it('reopening an up-to-date database runs nothing', () => {
    const file = join(tempDir(), 'db.sqlite');
    openDatabase(file).close();
    let ran = 0;
    const counting = migrations.map((m) => ({
      name: m.name,
      up: (...a: Parameters<typeof m.up>) => (ran++, m.up(...a)),
    }));
    const db = openDatabase(file, counting);
    expect(ran).toBe(0);
    expect(schemaVersion(db)).toBe(migrations.length);
    db.close();
  });

  it('a failing migration leaves the database at the previous version and says so clearly', () => {
    const file = join(tempDir(), 'db.sqlite');
    const broken = [
      ...migrations,
      {
        name: '9999-broken',
        up: (db: Parameters<(typeof migrations)[number]['up']>[0]) => {
          db.exec('CREATE TABLE half_done (id INTEGER PRIMARY KEY) STRICT');
          db.exec('INSERT INTO no_such_table VALUES (1)');
        },
      },
    ];
    let caught: unknown;
    try {
      openDatabase(file, broken);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(MigrationError);
    const error = caught as MigrationError;
    expect(error.version).toBe(migrations.length);
    expect(error.message).toMatch(
      new RegExp(
        `migration 9999-broken.*no such table.*left unchanged at schema version ${migrations.length}`,
        's',
      ),
    );

    const db = openDatabase(file);
    expect(schemaVersion(db)).toBe(migrations.length);
    expect(
      db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'half_done'").get(),
    ).toEqual({ n: 0 });
    db.close();
  });

  it('refuses a database from a newer version', () => {
    const file = join(tempDir(), 'db.sqlite');
    const db = openDatabase(file);
    db.pragma('user_version = 99');
    db.close();
    expect(() => openDatabase(file)).toThrow(/newer DefectScope/);
  });

  it('migrates the same way when called twice on one connection', () => {
    const db = openDatabase(':memory:');
    expect(migrate(db)).toBe(migrations.length);
    db.close();
  });

  it("lists results worst first, the model's own score ordering those whose 0–1 score is the same", () => {
    const store = openStore(tempDir());
    const inspectionId = store.inspections.create({
      folder: '/line',
      objectTypeId: null,
      jobId: null,
      watch: false,
    });
    const result = (path: string, score: number | null, rawScore: number | null) => ({
      inspectionId,
      path,
      imageId: null,
      sha256: null,
      modelId: null,
      rawScore,
      score,
      decision: score === null ? null : score >= 0.5 ? ('DEFECT' as const) : ('OK' as const),
      heatmapPath: null,
      error: score === null ? 'unreadable' : null,
    });
    // In scoring order: two clear defects whose 0–1 scores both stop at 1, the worse one second.
    store.results.insertMany([
      result('/line/a.png', 0.2, 1.1),
      result('/line/b.png', 1, 5.2),
      result('/line/c.png', null, null),
      result('/line/d.png', 1, 8.6),
      result('/line/e.png', 0.7, 3.4),
    ]);
    const worst = ['/line/d.png', '/line/b.png', '/line/e.png', '/line/a.png', '/line/c.png'];
    const listed = store.results.list({ inspectionId, limit: 10, offset: 0 });
    expect(listed.map((r) => r.path)).toEqual(worst);
    expect([...store.results.iterate(inspectionId, 2)].map((r) => r.path)).toEqual(worst);
    store.close();
  });

  it('chooses the data folder: --data-dir, then DEFECTSCOPE_DATA, then the OS app-data folder', () => {
    expect(resolveDataDir('/x/y', { DEFECTSCOPE_DATA: '/env' })).toBe('/x/y');
    expect(resolveDataDir(undefined, { DEFECTSCOPE_DATA: '/env' })).toBe('/env');
    expect(resolveDataDir(undefined, {})).toBe(defaultDataDir());
    expect(defaultDataDir('linux', { XDG_CONFIG_HOME: '/cfg' })).toBe('/cfg/DefectScope');
    expect(defaultDataDir('win32', { APPDATA: 'C:\\Users\\a\\AppData\\Roaming' })).toMatch(
      /Roaming.DefectScope$/,
    );
  });
});
