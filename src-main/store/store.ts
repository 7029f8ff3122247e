// The store as the rest of the app sees it: the data folder's paths and one repo per table
// group. Open it once per process and close it on exit.
import { mkdirSync } from 'node:fs';
import { openDatabase, schemaVersion, type Database } from './db.js';
import { dataPaths, resolveDataDir } from './data-dir.js';
import { ImagesRepo } from './repos/images.repo.js';
import { InspectionsRepo } from './repos/inspections.repo.js';
import { ModelsRepo } from './repos/models.repo.js';
import { ObjectTypesRepo } from './repos/object-types.repo.js';
import { ResultsRepo } from './repos/results.repo.js';
import { ReviewsRepo } from './repos/reviews.repo.js';

export interface Store {
  db: Database;
  paths: ReturnType<typeof dataPaths>;
  schemaVersion: number;
  objectTypes: ObjectTypesRepo;
  images: ImagesRepo;
  models: ModelsRepo;
  inspections: InspectionsRepo;
  results: ResultsRepo;
  reviews: ReviewsRepo;
  close(): void;
}

export function openStore(dataDir?: string): Store {
  const paths = dataPaths(resolveDataDir(dataDir));
  mkdirSync(paths.root, { recursive: true });
  const db = openDatabase(paths.database);
  return {
    db,
    paths,
    schemaVersion: schemaVersion(db),
    objectTypes: new ObjectTypesRepo(db),
    images: new ImagesRepo(db),
    models: new ModelsRepo(db),
    inspections: new InspectionsRepo(db),
    results: new ResultsRepo(db),
    reviews: new ReviewsRepo(db),
    close: () => db.close(),
  };
}
