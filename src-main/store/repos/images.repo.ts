// Images (referenced by path and content hash, never copied), their label history and masks.
import type { Database } from 'better-sqlite3';
import type { ImageDto, Label, LabelSource, Split } from '../../shared/dto.js';

export interface NewImage {
  objectTypeId: number;
  path: string;
  sha256: string;
  bytes: number;
  width: number;
  height: number;
  channels: number;
  bitDepth: number;
  format: string;
  split: Split;
  defectKind: string | null;
}

export interface ImageQuery {
  objectTypes?: string[];
  split?: Split;
  /** 'unlabeled' selects images without any label. */
  label?: Label | 'unlabeled';
  limit?: number;
  offset?: number;
}

const currentLabel = `(SELECT l.label FROM labels l WHERE l.image_id = i.id ORDER BY l.id DESC LIMIT 1)`;
const currentKind = `(SELECT l.defect_kind FROM labels l WHERE l.image_id = i.id ORDER BY l.id DESC LIMIT 1)`;

export class ImagesRepo {
  private readonly findByHash;
  private readonly insertImage;
  private readonly movePath;
  private readonly byPath;
  private readonly latestLabel;
  private readonly insertLabel;
  private readonly maskOf;
  private readonly upsertMask;
  private readonly listStatement;

  constructor(private readonly db: Database) {
    this.findByHash = db.prepare<[number, string], { id: number; path: string }>(
      'SELECT id, path FROM images WHERE object_type_id = ? AND sha256 = ?',
    );
    this.insertImage = db.prepare<[NewImage & { createdAt: string }]>(`
      INSERT INTO images (object_type_id, path, sha256, bytes, width, height, channels, bit_depth, format, split, defect_kind, created_at)
      VALUES (@objectTypeId, @path, @sha256, @bytes, @width, @height, @channels, @bitDepth, @format, @split, @defectKind, @createdAt)`);
    this.movePath = db.prepare<[string, number]>('UPDATE images SET path = ? WHERE id = ?');
    this.byPath = db.prepare<[string], { id: number }>(
      'SELECT id FROM images WHERE path = ? LIMIT 1',
    );
    this.latestLabel = db.prepare<[number], { label: Label; defect_kind: string | null }>(
      'SELECT label, defect_kind FROM labels WHERE image_id = ? ORDER BY id DESC LIMIT 1',
    );
    this.insertLabel = db.prepare<[number, Label, string | null, LabelSource, string, string]>(
      'INSERT INTO labels (image_id, label, defect_kind, source, who, at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.maskOf = db.prepare<[number], { sha256: string; path: string }>(
      'SELECT sha256, path FROM masks WHERE image_id = ?',
    );
    this.upsertMask = db.prepare<[number, string, string, string]>(`
      INSERT INTO masks (image_id, path, sha256, created_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (image_id) DO UPDATE SET path = excluded.path, sha256 = excluded.sha256`);
    this.listStatement = db.prepare<
      {
        types: string | null;
        split: string | null;
        label: string | null;
        limit: number;
        offset: number;
      },
      ImageDto
    >(`
      SELECT * FROM (
        SELECT i.id, t.name AS objectType, i.path, i.sha256, i.width, i.height, i.split,
               ${currentLabel} AS label, COALESCE(${currentKind}, i.defect_kind) AS defectKind,
               m.path AS maskPath
          FROM images i JOIN object_types t ON t.id = i.object_type_id
          LEFT JOIN masks m ON m.image_id = i.id
         WHERE (@types IS NULL OR t.name IN (SELECT value FROM json_each(@types)))
           AND (@split IS NULL OR i.split = @split))
       WHERE (@label IS NULL OR (@label = 'unlabeled' AND label IS NULL) OR label = @label)
       ORDER BY objectType, id
       LIMIT @limit OFFSET @offset`);
  }

  /** The image with this content in this object type, if already stored. */
  find(objectTypeId: number, sha256: string): { id: number; path: string } | undefined {
    return this.findByHash.get(objectTypeId, sha256);
  }

  /** Whether an image is stored at this path (in any object type). */
  recorded(path: string): boolean {
    return this.byPath.get(path) !== undefined;
  }

  insert(image: NewImage): number {
    return Number(
      this.insertImage.run({ ...image, createdAt: new Date().toISOString() }).lastInsertRowid,
    );
  }

  /** Keeps the stored path current when the same content turns up somewhere else. */
  updatePath(id: number, path: string): void {
    this.movePath.run(path, id);
  }

  /** Appends a label unless it equals the current one. Returns whether a row was added. */
  label(
    imageId: number,
    label: Label,
    defectKind: string | null,
    source: LabelSource,
    who: string,
  ): boolean {
    const latest = this.latestLabel.get(imageId);
    if (latest && latest.label === label && latest.defect_kind === defectKind) return false;
    this.insertLabel.run(imageId, label, defectKind, source, who, new Date().toISOString());
    return true;
  }

  /** Records a pixel mask; returns whether anything changed. */
  setMask(imageId: number, path: string, sha256: string): boolean {
    const existing = this.maskOf.get(imageId);
    if (existing && existing.sha256 === sha256 && existing.path === path) return false;
    this.upsertMask.run(imageId, path, sha256, new Date().toISOString());
    return true;
  }

  list(query: ImageQuery = {}): ImageDto[] {
    return this.listStatement.all({
      types: query.objectTypes ? JSON.stringify(query.objectTypes) : null,
      split: query.split ?? null,
      label: query.label ?? null,
      limit: query.limit ?? -1,
      offset: query.offset ?? 0,
    });
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }
}
