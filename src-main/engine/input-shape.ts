// The shape a type's images are scored at: the short side the detector asks for, and the long
// side following the aspect the type's images share, so a 500 × 1250 commutator is not squashed
// into a square (which thinned its cracks: EVALUATION.md).
import { probeImage } from '../data/image-io.js';
import { quantile } from './threshold.js';
import type { InputShape } from './image-batches.js';

/** Images probed for a type's aspect: their headers only, so this costs milliseconds. */
const ASPECT_SAMPLE = 32;
/** Within this relative spread the images share one aspect (one camera, one framing). */
const SAME_ASPECT = 0.05;
/** Aspects closer to square than this are scored square, as before. */
const SQUARE_ENOUGH = 0.1;
/** The encoder's coarsest stride: a side that is a multiple of it keeps the feature grids aligned. */
const STRIDE = 16;

/**
 * [width, height] with the short side `inputSize` and width / height ≈ `aspect`; a plain side for
 * aspect 1.
 */
export function inputShapeOf(inputSize: number, aspect = 1): InputShape {
  if (aspect === 1) return inputSize;
  const long = Math.max(
    inputSize,
    Math.round((inputSize * Math.max(aspect, 1 / aspect)) / STRIDE) * STRIDE,
  );
  return aspect > 1 ? [long, inputSize] : [inputSize, long];
}

/**
 * The width / height the type's images share, from the headers of up to ASPECT_SAMPLE of them
 * (spread over the list): their median when they all lie within SAME_ASPECT of it and it is more
 * than SQUARE_ENOUGH from square, else 1. Variable-size crops stay square: they scored better
 * squashed than at their median aspect on a real type (the real-products issue). Unreadable
 * files are left out; scoring reports them.
 */
export async function sharedAspect(paths: readonly string[]): Promise<number> {
  const step = Math.max(1, paths.length / ASPECT_SAMPLE);
  const sample = Array.from(
    { length: Math.min(ASPECT_SAMPLE, paths.length) },
    (_, i) => paths[Math.floor(i * step)]!,
  );
  const aspects: number[] = [];
  for (const path of sample) {
    try {
      const { width, height } = await probeImage(path);
      aspects.push(width / height);
    } catch {
      // An unreadable file says nothing about the camera's framing.
    }
  }
  if (aspects.length === 0) return 1;
  const median = quantile(aspects, 0.5);
  const shared = aspects.every((a) => Math.abs(a / median - 1) <= SAME_ASPECT);
  return shared && Math.abs(Math.log(median)) > Math.log(1 + SQUARE_ENOUGH) ? median : 1;
}
