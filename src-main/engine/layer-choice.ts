// The one-class feature choice that retrain and eval share, so that eval measures what the app
// ships: told which feature maps, those; otherwise each of LAYER_CANDIDATES. Where the bank may
// also learn the good images mirrored and turned (learnsViews), each set is tried with and
// without the views. Every candidate is fitted and judged on the same validation images, the best
// is kept (the first on a tie) and the others are freed as soon as they lose.
import type * as tf from '@tensorflow/tfjs';
import { LAYER_CANDIDATES, type FeatureName, type LayerChoiceDto } from '../shared/dto.js';
import { candidateLabel } from '../shared/model-quality.js';
import { decodedBatches, type DecodedBatchOptions } from './decoded-batches.js';
import type { Detector } from './detectors/detector.js';
import { scoresWithBank } from './detectors/patchcore/patchcore.js';
import { validationAuroc } from './metrics.js';
import { paintedKinds } from './synthetic-defects.js';
import { Rng } from '../shared/random.js';

/** One candidate: its feature maps, and whether the bank also learns the views. */
export interface FeatureCandidate {
  layers: FeatureName[];
  augmented: boolean;
}

/** A candidate judged on defects painted into held-out good images (judgeOnPainted). */
export interface PaintedJudgement {
  /** The good images' scores as the candidate scores them, in the order read. */
  good: number[];
  /** Their painted copies' scores, three an image (paintedDefectScores' order). */
  painted: number[];
  /** The AUROC it is judged by: `bankAuroc` where there is one, else good against painted. */
  auroc: number;
  /** With a defect head (or a memory) to leave out: the memory bank's AUROC alone. */
  bankAuroc: number | null;
}

/**
 * How retrain and eval judge a one-class candidate: its held-out `goodPaths` against the same
 * images with defects painted in (seeded), each image scored once. With a defect head, by its
 * memory bank alone: painted defects cannot judge a head that learned from them.
 */
export async function judgeOnPainted(
  detector: Detector,
  goodPaths: readonly string[],
  seed: number,
  options: DecodedBatchOptions,
): Promise<PaintedJudgement> {
  const scored = { good: [] as number[], painted: [] as number[] };
  const bank = { good: [] as number[], painted: [] as number[] };
  let bankApart = true;
  const read = async (images: tf.Tensor4D, into: 'good' | 'painted') => {
    const both = await scoresWithBank(detector, images);
    scored[into].push(...both.model);
    if (both.bank) bank[into].push(...both.bank);
    else bankApart = false;
  };
  // Each batch read once: its good images, then painted as paintedDefectScores paints them.
  const rng = new Rng(seed);
  for await (const batch of decodedBatches(goodPaths, detector.inputShape, options)) {
    await read(batch.images, 'good');
    for (const painted of paintedKinds(batch.images, rng)) await read(painted, 'painted');
  }
  const bankAuroc = bankApart ? validationAuroc(bank.good, bank.painted) : null;
  return {
    ...scored,
    auroc: bankAuroc ?? validationAuroc(scored.good, scored.painted),
    bankAuroc,
  };
}

/**
 * "feature maps by validation AUROC stride 4 + 8 0.904, stride 8 + 16 0.884; kept stride 4 + 8"
 * (each candidate with the views "+ mirrored/turned"), for logs (as the Models view).
 */
export function layerChoiceLine(choice: LayerChoiceDto): string {
  const measured = choice.candidates.map(
    (c) => `${candidateLabel(c)} ${c.validationAuroc.toFixed(3)}`,
  );
  return `feature maps by validation AUROC ${measured.join(', ')}; kept ${candidateLabel(choice)}`;
}

/**
 * Fits and judges each candidate through `fitAndJudge` (given its place among them, so a single
 * candidate need not be judged) and returns the winner with the choice; `choice` is null when
 * there was nothing to choose. `views`: whether each set is also tried with the views.
 * `fitAndJudge` frees its detector if it throws.
 */
export async function chooseLayers<T extends { detector: Detector; auroc: number }>(
  told: FeatureName[] | undefined,
  views: boolean,
  fitAndJudge: (candidate: FeatureCandidate, step: { index: number; count: number }) => Promise<T>,
): Promise<{
  chosen: T;
  layers: FeatureName[];
  augmented: boolean;
  choice: LayerChoiceDto | null;
}> {
  const layerSets = told ? [told] : LAYER_CANDIDATES.map((layers) => [...layers]);
  // The views first, so that they are kept on a tie: a few-shot type holds out only a few good
  // images, on which every candidate often validates at 1.000, and the views are what measured
  // better on the real types' ten shots (EVALUATION.md, Few good images).
  const all: FeatureCandidate[] = layerSets.flatMap((layers) =>
    (views ? [true, false] : [false]).map((augmented) => ({ layers, augmented })),
  );
  const candidates: LayerChoiceDto['candidates'] = [];
  let best: { fitted: T; candidate: FeatureCandidate } | undefined;
  try {
    for (const [index, candidate] of all.entries()) {
      const fitted = await fitAndJudge(candidate, { index, count: all.length });
      candidates.push({
        layers: candidate.layers,
        validationAuroc: fitted.auroc,
        ...(views ? { augmented: candidate.augmented } : {}),
      });
      if (!best || fitted.auroc > best.fitted.auroc) {
        best?.fitted.detector.dispose();
        best = { fitted, candidate };
      } else {
        fitted.detector.dispose();
      }
    }
  } catch (error) {
    best?.fitted.detector.dispose();
    throw error;
  }
  if (!best) throw new Error('no feature maps to fit');
  const { fitted, candidate } = best;
  return {
    chosen: fitted,
    ...candidate,
    choice:
      all.length > 1
        ? {
            layers: candidate.layers,
            ...(views ? { augmented: candidate.augmented } : {}),
            candidates,
          }
        : null,
  };
}
