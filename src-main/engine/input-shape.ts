// The shape a type's images are scored at: the short side the detector asks for, and the long
// side following the aspect the type's images share, so a 500 × 1250 commutator is not squashed
// into a square (which thinned its cracks: EVALUATION.md). With a region of interest the part is
// what is scored, so the aspect is the region's.
import { probeImage } from '../data/image-io.js';
import { clipRoi, type Roi } from '../shared/roi.js';
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
 * files are left out; scoring reports them. With `roi`, each image's aspect is that of the region
 * clipped to it (the region's own on a camera's fixed frame), and images it misses are left out.
 */
export async function sharedAspect(
  paths: readonly string[],
  roi: Roi | null = null,
): Promise<number> {
  const step = Math.max(1, paths.length / ASPECT_SAMPLE);
  const sample = Array.from(
    { length: Math.min(ASPECT_SAMPLE, paths.length) },
    (_, i) => paths[Math.floor(i * step)]!,
  );
  const aspects: number[] = [];
  for (const path of sample) {
    try {
      const image = await probeImage(path);
      const { width, height } = roi ? (clipRoi(roi, image.width, image.height) ?? {}) : image;
      if (width && height) aspects.push(width / height);
    } catch {
      // An unreadable file says nothing about the camera's framing.
    }
  }
  if (aspects.length === 0) return roi ? squareEnough(roi.width / roi.height) : 1;
  const median = quantile(aspects, 0.5);
  const shared = aspects.every((a) => Math.abs(a / median - 1) <= SAME_ASPECT);
  return shared ? squareEnough(median) : 1;
}

/** 1 for an aspect within SQUARE_ENOUGH of square, else the aspect. */
function squareEnough(aspect: number): number {
  return Math.abs(Math.log(aspect)) > Math.log(1 + SQUARE_ENOUGH) ? aspect : 1;
}
