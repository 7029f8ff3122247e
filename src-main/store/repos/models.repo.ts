// Model versions per object type: what each is, where its folder is, how it scored on
// validation, and which one is active. Activating one retires none: older versions stay
// 'ready' for rollback.
import type { Database } from 'better-sqlite3';
import type { ModelDto, ModelStatus, ModelValidationDto } from '../../shared/dto.js';

/** A model version as listed: the DTO without its validation scores, read one model at a time. */
export type ModelRecord = Omit<ModelDto, 'validation'>;

/** Every column but the validation scores, which only a model's page needs. */
const RECORD = 'id, kind, name, object_types, config, metrics, path, parent_id, status, created_at';

interface ModelRow {
  id: number;
  kind: string;
  name: string;
  object_types: string;
  config: string;
  metrics: string | null;
  path: string | null;
  parent_id: number | null;
  status: ModelStatus;
  created_at: string;
}

function toRecord(row: ModelRow): ModelRecord {
  return {
    id: row.id,
    kind: row.kind,
    name: row.name,
    objectTypes: JSON.parse(row.object_types) as string[],
    config: JSON.parse(row.config) as Record<string, unknown>,
    metrics: row.metrics ? (JSON.parse(row.metrics) as Record<string, unknown>) : null,
    path: row.path,
    parentId: row.parent_id,
    status: row.status,
    createdAt: row.created_at,
  };
}

export interface NewModel {
  kind: string;
  name: string;
  objectTypes: string[];
  config: Record<string, unknown>;
  metrics?: Record<string, unknown> | null;
  path?: string | null;
  parentId?: number | null;
  status: ModelStatus;
  validation?: ModelValidationDto | null;
}

export class ModelsRepo {
  private readonly insertStatement;
  private readonly byId;
  private readonly validationById;
  private readonly all;
  private readonly forType;
  private readonly activeForType;
  private readonly setStatusStatement;
  private readonly setResult;
  private readonly demoteActive;

  constructor(private readonly db: Database) {
    this.insertStatement = db.prepare<[Record<string, unknown>]>(`
      INSERT INTO models (kind, name, object_types, config, metrics, path, parent_id, status, created_at, validation)
      VALUES (@kind, @name, @objectTypes, @config, @metrics, @path, @parentId, @status, @createdAt, @validation)`);
    this.byId = db.prepare<[number], ModelRow>(`SELECT ${RECORD} FROM models WHERE id = ?`);
    this.validationById = db.prepare<[number], { validation: string | null }>(
      'SELECT validation FROM models WHERE id = ?',
    );
    this.all = db.prepare<[], ModelRow>(`SELECT ${RECORD} FROM models ORDER BY id DESC`);
    this.forType = db.prepare<[string], ModelRow>(
      `SELECT ${RECORD} FROM models WHERE EXISTS (SELECT 1 FROM json_each(object_types) WHERE value = ?) ORDER BY id DESC`,
    );
    this.activeForType = db.prepare<[string], ModelRow>(
      `SELECT ${RECORD} FROM models WHERE status = 'active' AND EXISTS (SELECT 1 FROM json_each(object_types) WHERE value = ?)
        ORDER BY id DESC LIMIT 1`,
    );
    this.setStatusStatement = db.prepare<[ModelStatus, number]>(
      'UPDATE models SET status = ? WHERE id = ?',
    );
    this.setResult = db.prepare<[string | null, string | null, number]>(
      'UPDATE models SET metrics = ?, path = ? WHERE id = ?',
    );
    this.demoteActive = db.prepare<[number, string]>(
      `UPDATE models SET status = 'ready'
        WHERE status = 'active' AND id != ? AND EXISTS (SELECT 1 FROM json_each(object_types) WHERE value = ?)`,
    );
  }

  insert(model: NewModel): number {
    const result = this.insertStatement.run({
      kind: model.kind,
      name: model.name,
      objectTypes: JSON.stringify(model.objectTypes),
      config: JSON.stringify(model.config),
      metrics: model.metrics ? JSON.stringify(model.metrics) : null,
      path: model.path ?? null,
      parentId: model.parentId ?? null,
      status: model.status,
      createdAt: new Date().toISOString(),
      validation: model.validation ? JSON.stringify(model.validation) : null,
    });
    return Number(result.lastInsertRowid);
  }

  get(id: number): ModelRecord | undefined {
    const row = this.byId.get(id);
    return row ? toRecord(row) : undefined;
  }

  /** The scores of the model's validation images, with their truth; null when it kept none. */
  validation(id: number): ModelValidationDto | null {
    const row = this.validationById.get(id);
    return row?.validation ? (JSON.parse(row.validation) as ModelValidationDto) : null;
  }

  list(objectType?: string): ModelRecord[] {
    return (objectType ? this.forType.all(objectType) : this.all.all()).map(toRecord);
  }

  active(objectType: string): ModelRecord | undefined {
    const row = this.activeForType.get(objectType);
    return row ? toRecord(row) : undefined;
  }

  setStatus(id: number, status: ModelStatus): void {
    this.setStatusStatement.run(status, id);
  }

  complete(id: number, metrics: Record<string, unknown> | null, path: string | null): void {
    this.setResult.run(metrics ? JSON.stringify(metrics) : null, path, id);
  }

  /** Makes `id` the active model of each of its object types; the previously active stay ready. */
  activate(id: number): void {
    const model = this.get(id);
    if (!model) return;
    this.db.transaction(() => {
      for (const type of model.objectTypes) this.demoteActive.run(id, type);
      this.setStatusStatement.run('active', id);
    })();
  }
}
