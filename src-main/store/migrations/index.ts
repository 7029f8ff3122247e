// The ordered list of schema migrations. Migration N (1-based) brings the schema to version N;
// append new ones, never edit or reorder a released one.
import type { Database } from 'better-sqlite3';
import { up as initial } from './0001-initial.js';
import { up as jobsOwnerSettings } from './0002-jobs-owner-settings.js';
import { up as inspectionIndexes } from './0003-inspection-indexes.js';
import { up as modelValidation } from './0004-model-validation.js';
import { up as resultsByModel } from './0005-results-by-model.js';

export interface Migration {
  name: string;
  up(db: Database): void;
}

export const migrations: readonly Migration[] = [
  { name: '0001-initial', up: initial },
  { name: '0002-jobs-owner-settings', up: jobsOwnerSettings },
  { name: '0003-inspection-indexes', up: inspectionIndexes },
  { name: '0004-model-validation', up: modelValidation },
  { name: '0005-results-by-model', up: resultsByModel },
];
