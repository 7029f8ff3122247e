// Object types (product types): lookup, creation and the per-split label counts.
import type { Database } from 'better-sqlite3';
import type { ObjectTypeSummary, Split } from '../../shared/dto.js';

/** A type's images as this table counts them (inspect.ts typeSummaries adds the rest). */
export type ObjectTypeCounts = Omit<
  ObjectTypeSummary,
  'activeModelId' | 'zeroShotRegion' | 'zeroShotDetail'
>;

interface CountRow {
  id: number;
  name: string;
  split: Split | null;
  label: 'good' | 'defect' | null;
  n: number;
}

export class ObjectTypesRepo {
  private readonly byName;
  private readonly insert;
  private readonly counts;
  private readonly kinds;
  private readonly maskCounts;

  constructor(db: Database) {
    this.byName = db.prepare<[string], { id: number }>(
      'SELECT id FROM object_types WHERE name = ?',
    );
    this.insert = db.prepare<[string, string]>(
      'INSERT INTO object_types (name, created_at) VALUES (?, ?)',
    );
    // Current label = newest label row per image.
    this.counts = db.prepare<[], CountRow>(`
      SELECT t.id, t.name, i.split,
             (SELECT l.label FROM labels l WHERE l.image_id = i.id ORDER BY l.id DESC LIMIT 1) AS label,
             COUNT(i.id) AS n
        FROM object_types t LEFT JOIN images i ON i.object_type_id = t.id
       GROUP BY t.id, i.split, label
       ORDER BY t.name`);
    this.kinds = db.prepare<[], { id: number; kind: string }>(
      `SELECT DISTINCT object_type_id AS id, defect_kind AS kind FROM images WHERE defect_kind IS NOT NULL ORDER BY kind`,
    );
    this.maskCounts = db.prepare<[], { id: number; n: number }>(
      `SELECT i.object_type_id AS id, COUNT(*) AS n FROM masks m JOIN images i ON i.id = m.image_id GROUP BY i.object_type_id`,
    );
  }

  idOf(name: string): number | undefined {
    return this.byName.get(name)?.id;
  }

  ensure(name: string): number {
    return (
      this.idOf(name) ?? Number(this.insert.run(name, new Date().toISOString()).lastInsertRowid)
    );
  }

  summaries(): ObjectTypeCounts[] {
    const byId = new Map<number, ObjectTypeCounts>();
    for (const row of this.counts.all()) {
      let summary = byId.get(row.id);
      if (!summary) {
        const empty = () => ({ good: 0, defect: 0, unlabeled: 0 });
        summary = {
          id: row.id,
          name: row.name,
          images: 0,
          counts: { train: empty(), test: empty(), unsplit: empty() },
          defectKinds: [],
          masks: 0,
        };
        byId.set(row.id, summary);
      }
      if (row.split === null) continue; // a type with no images yet
      summary.images += row.n;
      summary.counts[row.split][row.label ?? 'unlabeled'] += row.n;
    }
    for (const { id, kind } of this.kinds.all()) byId.get(id)?.defectKinds.push(kind);
    for (const { id, n } of this.maskCounts.all()) {
      const summary = byId.get(id);
      if (summary) summary.masks = n;
    }
    return [...byId.values()];
  }
}
