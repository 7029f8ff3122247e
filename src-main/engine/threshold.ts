// Thresholds and score normalisation, in one place (anomalib's PostProcessor): detectors return
// raw scores; calibration picks the decision threshold and maps raw scores to 0..1 with the
// threshold at exactly 0.5; the unsure band around 0.5 routes images to review.
import type { Decision } from '../shared/dto.js';
import { BadArgumentError } from '../shared/errors.js';
import { f1Max } from './metrics.js';

export interface Calibration {
  /** How the threshold was chosen. */
  method: 'f1-max' | 'good-percentile' | 'robust-outlier';
  /** Raw-score threshold (maps to 0.5). */
  threshold: number;
  /** Raw score mapped to 0 (typical good). */
  low: number;
  /** Raw score mapped to 1 (clearly defective). */
  high: number;
  /** Half-width of the unsure band around 0.5 on the normalised scale. */
  unsureBand: number;
  /** For 'good-percentile': which percentile of good scores. */
  percentile?: number;
}

export const DEFAULT_UNSURE_BAND = 0.05;
export const DEFAULT_GOOD_PERCENTILE = 0.99;

/** Linear-interpolated quantile, q in [0, 1]. */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) throw new BadArgumentError('quantile of no values');
  const sorted = Float64Array.from(values).sort();
  const position = Math.min(1, Math.max(0, q)) * (sorted.length - 1);
  const lower = Math.floor(position);
  const upper = Math.min(sorted.length - 1, lower + 1);
  return sorted[lower]! + (sorted[upper]! - sorted[lower]!) * (position - lower);
}

/**
 * Calibrates from validation scores. With defects among the labels the threshold maximises F1;
 * with good images only it is a high percentile of their scores. The normalised scale runs from
 * the median good score (0) through the threshold (0.5) to as far above it again (1), or to the
 * highest defect score when that is further.
 */
export function calibrate(
  scores: ArrayLike<number>,
  labels?: ArrayLike<number>,
  options: { unsureBand?: number; percentile?: number } = {},
): Calibration {
  if (scores.length === 0)
    throw new BadArgumentError('Calibration needs at least one validation score.');
  const unsureBand = options.unsureBand ?? DEFAULT_UNSURE_BAND;
  if (!(unsureBand >= 0 && unsureBand < 0.5))
    throw new BadArgumentError('The unsure band must be between 0 and 0.5.');
  const good: number[] = [];
  const defect: number[] = [];
  for (let i = 0; i < scores.length; i++)
    (labels && labels[i] === 1 ? defect : good).push(scores[i]!);
  if (good.length === 0)
    throw new BadArgumentError('Calibration needs good images among the validation images.');

  let method: Calibration['method'];
  let threshold: number;
  let percentile: number | undefined;
  if (defect.length > 0) {
    method = 'f1-max';
    const best = f1Max(scores, labels!);
    // Midway between the best cut and the highest good score below it generalises better
    // than sitting exactly on a defect's score.
    const below = good.filter((s) => s < best.threshold);
    threshold = below.length > 0 ? (best.threshold + Math.max(...below)) / 2 : best.threshold;
  } else {
    method = 'good-percentile';
    percentile = options.percentile ?? DEFAULT_GOOD_PERCENTILE;
    threshold = quantile(good, percentile);
  }
  const low = Math.min(quantile(good, 0.5), threshold);
  const span = Math.max(threshold - low, 1e-12);
  const high = Math.max(threshold + span, ...defect);
  return {
    method,
    threshold,
    low,
    high,
    unsureBand,
    ...(percentile !== undefined ? { percentile } : {}),
  };
}

/**
 * Calibrates from the scores of an unlabeled folder (zero-shot). Most images are assumed good,
 * but a batch may hold many defects, which inflate a median and its MAD. So the good images'
 * distribution is read off the lower tail alone, which defects (high scores) do not reach: with
 * q05 and q30 of all scores as the good scores' 5th and 30th percentiles, σ = (q30 − q05) / 1.121
 * and the mean is q30 + 0.524σ (normal quantiles); the threshold is that mean + kσ (k = 3).
 */
export function calibrateUnlabeled(
  scores: ArrayLike<number>,
  options: { unsureBand?: number; k?: number } = {},
): Calibration {
  if (scores.length < 2)
    throw new BadArgumentError('Calibrating an unlabeled folder needs at least 2 scores.');
  const unsureBand = options.unsureBand ?? DEFAULT_UNSURE_BAND;
  const q05 = quantile(scores, 0.05);
  const q30 = quantile(scores, 0.3);
  const sigma = Math.max((q30 - q05) / 1.121, 1e-12);
  const mean = q30 + 0.524 * sigma;
  const threshold = mean + (options.k ?? 3) * sigma;
  const span = threshold - mean;
  return { method: 'robust-outlier', threshold, low: mean, high: threshold + span, unsureBand };
}

/** Raw score → 0..1 with the threshold at 0.5 (piecewise linear, monotonic, clipped). */
export function normalise(raw: number, c: Calibration): number {
  const value =
    raw < c.threshold
      ? 0.5 * ((raw - c.low) / Math.max(c.threshold - c.low, 1e-12))
      : 0.5 + 0.5 * ((raw - c.threshold) / Math.max(c.high - c.threshold, 1e-12));
  return Math.min(1, Math.max(0, value));
}

/** OK below the band, DEFECT above it, UNSURE inside it (those go to review). */
export function decide(normalised: number, unsureBand: number): Decision {
  if (normalised >= 0.5 + unsureBand) return 'DEFECT';
  if (normalised < 0.5 - unsureBand) return 'OK';
  return 'UNSURE';
}
