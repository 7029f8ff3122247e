// Inspections: one row per folder scored (or watched) for an object type, with the model or
// zero-shot reference folder and the calibration it decided with, and the job that runs it.
import type { Database } from 'better-sqlite3';

export interface InspectionRecord {
  id: number;
  folder: string;
  objectType: string | null;
  modelId: number | null;
  /** The model folder that scores (a zero-shot inspection's own reference folder included). */
  modelPath: string | null;
  threshold: number | null;
  unsureBand: number | null;
  jobId: string | null;
  watch: boolean;
  createdAt: string;
  finishedAt: string | null;
}

interface InspectionRow {
  id: number;
  folder: string;
  objectType: string | null;
  model_id: number | null;
  model_path: string | null;
  threshold: number | null;
  unsure_band: number | null;
  job_id: string | null;
  watch: number;
  created_at: string;
  finished_at: string | null;
}

function toRecord(row: InspectionRow): InspectionRecord {
  return {
    id: row.id,
    folder: row.folder,
    objectType: row.objectType,
    modelId: row.model_id,
    modelPath: row.model_path,
    threshold: row.threshold,
    unsureBand: row.unsure_band,
    jobId: row.job_id,
    watch: row.watch === 1,
    createdAt: row.created_at,
    finishedAt: row.finished_at,
  };
}

const select = `SELECT s.*, t.name AS objectType FROM inspections s
  LEFT JOIN object_types t ON t.id = s.object_type_id`;

export class InspectionsRepo {
  private readonly insertStatement;
  private readonly byId;
  private readonly byJob;
  private readonly setModelStatement;
  private readonly setJobStatement;
  private readonly finishStatement;
  private readonly recent;
  private readonly latestZeroShotStatement;

  constructor(db: Database) {
    this.insertStatement = db.prepare<[string, number | null, string | null, number, string]>(
      `INSERT INTO inspections (folder, object_type_id, job_id, watch, created_at) VALUES (?, ?, ?, ?, ?)`,
    );
    this.byId = db.prepare<[number], InspectionRow>(`${select} WHERE s.id = ?`);
    this.byJob = db.prepare<[string], InspectionRow>(
      `${select} WHERE s.job_id = ? ORDER BY s.id DESC LIMIT 1`,
    );
    this.setModelStatement = db.prepare<
      [number | null, string | null, number | null, number | null, number]
    >(
      'UPDATE inspections SET model_id = ?, model_path = ?, threshold = ?, unsure_band = ? WHERE id = ?',
    );
    this.setJobStatement = db.prepare<[string, number]>(
      'UPDATE inspections SET job_id = ?, finished_at = NULL WHERE id = ?',
    );
    this.finishStatement = db.prepare<[string, number]>(
      'UPDATE inspections SET finished_at = ? WHERE id = ?',
    );
    this.recent = db.prepare<[number], InspectionRow>(`${select} ORDER BY s.id DESC LIMIT ?`);
    this.latestZeroShotStatement = db.prepare<[string], InspectionRow>(
      `${select} WHERE t.name = ? AND s.model_id IS NULL AND s.model_path IS NOT NULL
        ORDER BY s.id DESC LIMIT 1`,
    );
  }

  create(inspection: {
    folder: string;
    objectTypeId: number | null;
    jobId: string | null;
    watch: boolean;
  }): number {
    return Number(
      this.insertStatement.run(
        inspection.folder,
        inspection.objectTypeId,
        inspection.jobId,
        inspection.watch ? 1 : 0,
        new Date().toISOString(),
      ).lastInsertRowid,
    );
  }

  get(id: number): InspectionRecord | undefined {
    const row = this.byId.get(id);
    return row ? toRecord(row) : undefined;
  }

  forJob(jobId: string): InspectionRecord | undefined {
    const row = this.byJob.get(jobId);
    return row ? toRecord(row) : undefined;
  }

  list(limit = 50): InspectionRecord[] {
    return this.recent.all(limit).map(toRecord);
  }

  /** The object type's latest inspection scored zero-shot (by its own reference folder), if any. */
  latestZeroShot(objectType: string): InspectionRecord | undefined {
    const row = this.latestZeroShotStatement.get(objectType);
    return row ? toRecord(row) : undefined;
  }

  /** What scores this inspection: a model row and/or folder, and its calibration (raw threshold). */
  setModel(
    id: number,
    model: {
      modelId: number | null;
      modelPath: string | null;
      threshold: number | null;
      unsureBand: number | null;
    },
  ): void {
    this.setModelStatement.run(
      model.modelId,
      model.modelPath,
      model.threshold,
      model.unsureBand,
      id,
    );
  }

  /** A resumed inspection runs under another job. */
  setJob(id: number, jobId: string): void {
    this.setJobStatement.run(jobId, id);
  }

  finish(id: number): void {
    this.finishStatement.run(new Date().toISOString(), id);
  }
}
