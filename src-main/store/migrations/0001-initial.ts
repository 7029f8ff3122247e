// The first schema: object types, images, label history, masks, models, jobs, inspections,
// results and reviews. Times are ISO-8601 UTC text; JSON columns hold typed DTOs.
import type { Database } from 'better-sqlite3';

export function up(db: Database): void {
  db.exec(`
    CREATE TABLE object_types (
      id          INTEGER PRIMARY KEY,
      name        TEXT NOT NULL UNIQUE,
      created_at  TEXT NOT NULL
    ) STRICT;

    CREATE TABLE images (
      id              INTEGER PRIMARY KEY,
      object_type_id  INTEGER NOT NULL REFERENCES object_types(id) ON DELETE CASCADE,
      path            TEXT NOT NULL,
      sha256          TEXT NOT NULL,
      bytes           INTEGER NOT NULL,
      width           INTEGER NOT NULL,
      height          INTEGER NOT NULL,
      channels        INTEGER NOT NULL,
      bit_depth       INTEGER NOT NULL,
      format          TEXT NOT NULL,
      split           TEXT NOT NULL CHECK (split IN ('train', 'test', 'unsplit')),
      defect_kind     TEXT,
      created_at      TEXT NOT NULL,
      UNIQUE (object_type_id, sha256)
    ) STRICT;
    CREATE INDEX images_by_type_split ON images (object_type_id, split);
    CREATE INDEX images_by_path ON images (path);

    -- Label history: the newest row per image is its current label.
    CREATE TABLE labels (
      id           INTEGER PRIMARY KEY,
      image_id     INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
      label        TEXT NOT NULL CHECK (label IN ('good', 'defect')),
      defect_kind  TEXT,
      source       TEXT NOT NULL CHECK (source IN ('import', 'review', 'prediction')),
      who          TEXT NOT NULL,
      at           TEXT NOT NULL
    ) STRICT;
    CREATE INDEX labels_by_image ON labels (image_id, id);

    CREATE TABLE masks (
      id          INTEGER PRIMARY KEY,
      image_id    INTEGER NOT NULL UNIQUE REFERENCES images(id) ON DELETE CASCADE,
      path        TEXT NOT NULL,
      sha256      TEXT NOT NULL,
      created_at  TEXT NOT NULL
    ) STRICT;

    CREATE TABLE models (
      id            INTEGER PRIMARY KEY,
      kind          TEXT NOT NULL,
      name          TEXT NOT NULL,
      object_types  TEXT NOT NULL,
      config        TEXT NOT NULL,
      metrics       TEXT,
      path          TEXT,
      parent_id     INTEGER REFERENCES models(id),
      status        TEXT NOT NULL CHECK (status IN ('training', 'ready', 'active', 'retired', 'failed')),
      created_at    TEXT NOT NULL
    ) STRICT;

    CREATE TABLE jobs (
      id              TEXT PRIMARY KEY,
      kind            TEXT NOT NULL,
      status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled', 'interrupted')),
      args            TEXT NOT NULL,
      progress_done   INTEGER NOT NULL DEFAULT 0,
      progress_total  INTEGER NOT NULL DEFAULT 0,
      result          TEXT,
      error           TEXT,
      log             TEXT NOT NULL DEFAULT '',
      created_at      TEXT NOT NULL,
      started_at      TEXT,
      finished_at     TEXT
    ) STRICT;

    CREATE TABLE inspections (
      id              INTEGER PRIMARY KEY,
      folder          TEXT NOT NULL,
      object_type_id  INTEGER REFERENCES object_types(id),
      model_id        INTEGER REFERENCES models(id),
      threshold       REAL,
      unsure_band     REAL,
      job_id          TEXT REFERENCES jobs(id),
      created_at      TEXT NOT NULL
    ) STRICT;

    CREATE TABLE results (
      id             INTEGER PRIMARY KEY,
      inspection_id  INTEGER NOT NULL REFERENCES inspections(id) ON DELETE CASCADE,
      image_id       INTEGER REFERENCES images(id),
      path           TEXT NOT NULL,
      sha256         TEXT,
      model_id       INTEGER REFERENCES models(id),
      raw_score      REAL,
      score          REAL,
      decision       TEXT CHECK (decision IN ('OK', 'DEFECT', 'UNSURE')),
      heatmap_path   TEXT,
      error          TEXT,
      created_at     TEXT NOT NULL,
      UNIQUE (inspection_id, path)
    ) STRICT;

    CREATE TABLE reviews (
      id         INTEGER PRIMARY KEY,
      result_id  INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,
      verdict    TEXT NOT NULL CHECK (verdict IN ('defect', 'good')),
      who        TEXT NOT NULL,
      at         TEXT NOT NULL,
      note       TEXT
    ) STRICT;
  `);
}
