// The one way detectors, evaluation and retraining read image files: decoded batches (the next
// decoded while the current one is used) as tensors with the paths that decoded. Unreadable
// files are reported through onFailure and skipped; the batch carries on without them.
import type { ImageError } from '../shared/errors.js';
import { CancelledError } from '../shared/errors.js';
import type { Roi } from '../shared/roi.js';
import type { FitBatch } from './detectors/detector.js';
import {
  ImageBatchLoader,
  batchTensor,
  prefetchBatches,
  type InputShape,
} from './image-batches.js';

export interface PathBatch extends FitBatch {
  /** The files in `images`, in order. */
  paths: string[];
}

export interface DecodedBatchOptions {
  batchSize?: number;
  onFailure?: (error: ImageError) => void;
  signal?: AbortSignal;
  /** Reuse a loader (its worker thread) across calls; one is made and closed otherwise. */
  loader?: ImageBatchLoader;
  /**
   * The type's region of interest: each image is cropped to it before resizing to `size`, so
   * what is scored is the part alone. Images it misses are reported through onFailure.
   */
  roi?: Roi | null;
}

/** Yields [B, height, width, 3] batches of `paths`; each batch's tensor is freed after its turn. */
export async function* decodedBatches(
  paths: readonly string[],
  size: InputShape,
  options: DecodedBatchOptions = {},
): AsyncGenerator<PathBatch> {
  const batchSize = options.batchSize ?? 16;
  const loader = options.loader ?? new ImageBatchLoader(size);
  try {
    const count = Math.ceil(paths.length / batchSize);
    for await (const batch of prefetchBatches(
      loader,
      count,
      (i) => paths.slice(i * batchSize, (i + 1) * batchSize),
      size,
      options.roi ?? null,
    )) {
      if (options.signal?.aborted) throw new CancelledError();
      for (const failure of batch.failures) options.onFailure?.(failure);
      if (batch.paths.length === 0) continue;
      const images = batchTensor(batch);
      try {
        yield { images, paths: batch.paths };
      } finally {
        images.dispose();
      }
    }
  } finally {
    if (!options.loader) await loader.close();
  }
}
