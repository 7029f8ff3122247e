// Raw detector scores for image files, batch by batch: the one scoring loop that inspection,
// retrain validation and the CLI's score command share. Unreadable files are reported through
// onError and skipped; the rest of the batch is scored.
import type { FileProblem } from '../shared/dto.js';
import type { Roi } from '../shared/roi.js';
import { decodedBatches } from './decoded-batches.js';
import type { Detector } from './detectors/detector.js';

export interface RawScoreOptions {
  batchSize?: number;
  anomalyMaps?: boolean;
  onError?: (error: FileProblem) => void;
  signal?: AbortSignal;
  /** The region of interest the detector's model was fitted on (its manifest's `roi`). */
  roi?: Roi | null;
}

/** Raw detector scores for files, batch by batch, with unreadable files reported. */
export async function* rawScores(
  detector: Detector,
  paths: string[],
  options: RawScoreOptions = {},
) {
  const batches = decodedBatches(paths, detector.inputShape, {
    ...(options.batchSize ? { batchSize: options.batchSize } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.roi ? { roi: options.roi } : {}),
    onFailure: (failure) =>
      options.onError?.({ path: failure.path, problem: failure.problem, message: failure.message }),
  });
  for await (const batch of batches) {
    const results = await detector.score(batch.images, {
      anomalyMaps: options.anomalyMaps ?? false,
    });
    yield batch.paths.map((path, i) => ({ path, ...results[i]! }));
  }
}
