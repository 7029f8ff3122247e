// Which patch features serve a type's one-class model, chosen per type: each candidate is fitted
// on the type's good images and judged on its held-out good images against synthetic defects
// cut into those same images (CutPaste); the one that separates them best is kept. No single
// choice wins on every real product: stride 8 + 16 lifted ELPV poly from 0.822 to 0.864 and lost
// casting 0.972 → 0.934 (EVALUATION.md), so retrain and eval choose, the same way.
import { Rng } from '../shared/random.js';
import type { FeatureName } from '../shared/dto.js';
import { CancelledError } from '../shared/errors.js';
import { cutPaste, defaultCutPaste } from './augment.js';
import { decodedBatches } from './decoded-batches.js';
import type { Detector } from './detectors/detector.js';
import { auroc } from './metrics.js';

/** The feature maps tried, the long-standing default first (it wins ties). */
export const LAYER_CANDIDATES: readonly (readonly FeatureName[])[] = [
  ['stride4', 'stride8'],
  ['stride8', 'stride16'],
];

export interface LayerCandidate {
  layers: FeatureName[];
  /** AUROC of held-out good images against synthetic defects cut into them. */
  validationAuroc: number;
}

export interface ScoreOptions {
  batchSize: number;
  seed: number;
  signal?: AbortSignal;
}

/** Raw scores of image files (unreadable ones are left out; scoring elsewhere reports them). */
export async function scoresOf(
  detector: Detector,
  paths: readonly string[],
  options: ScoreOptions,
): Promise<number[]> {
  const scores: number[] = [];
  for await (const batch of decodedBatches(paths, detector.inputShape, options)) {
    if (options.signal?.aborted) throw new CancelledError();
    scores.push(...(await detector.score(batch.images)).map((r) => r.score));
  }
  return scores;
}

/**
 * Scores of held-out good images with a small CutPaste defect pasted into each: a patch of the
 * image moved, slightly brighter or darker. Seeded, so candidates and model versions are judged on
 * the same defects.
 */
export async function syntheticDefectScores(
  detector: Detector,
  goodPaths: readonly string[],
  options: ScoreOptions,
): Promise<number[]> {
  const scores: number[] = [];
  const rng = new Rng(options.seed);
  const small = {
    ...defaultCutPaste,
    probability: 1,
    minArea: 0.005,
    maxArea: 0.03,
    brightness: 0.2,
  };
  for await (const batch of decodedBatches(goodPaths, detector.inputShape, options)) {
    if (options.signal?.aborted) throw new CancelledError();
    const { images, pasted } = cutPaste(batch.images, rng, small);
    try {
      const results = await detector.score(images);
      results.forEach((r, i) => pasted[i] && scores.push(r.score));
    } finally {
      images.dispose();
    }
  }
  return scores;
}

/**
 * Fits a one-class detector per candidate (`make` builds one on the given layers, `fit` fits it on
 * the type's good images) and returns the one whose held-out good images and synthetic defects
 * separate best, with every candidate's validation AUROC; the others are disposed.
 */
export async function chooseLayers(
  make: (layers: FeatureName[]) => Promise<Detector>,
  fit: (detector: Detector) => Promise<void>,
  validationGood: readonly string[],
  options: ScoreOptions & { onProgress?: (message: string) => void },
): Promise<{ detector: Detector; candidates: LayerCandidate[] }> {
  let best: { detector: Detector; auroc: number } | undefined;
  const candidates: LayerCandidate[] = [];
  try {
    for (const layers of LAYER_CANDIDATES) {
      const detector = await make([...layers]);
      let kept = false;
      try {
        options.onProgress?.(`fitting on ${layers.join(' + ')} features`);
        await fit(detector);
        const good = await scoresOf(detector, validationGood, options);
        const defect = await syntheticDefectScores(detector, validationGood, options);
        const value =
          good.length > 0 && defect.length > 0
            ? auroc([...good, ...defect], [...good.map(() => 0), ...defect.map(() => 1)])
            : 0.5;
        candidates.push({ layers: [...layers], validationAuroc: value });
        if (!best || value > best.auroc) {
          best?.detector.dispose();
          best = { detector, auroc: value };
          kept = true;
        }
      } finally {
        if (!kept) detector.dispose();
      }
    }
  } catch (error) {
    best?.detector.dispose();
    throw error;
  }
  return { detector: best!.detector, candidates };
}
