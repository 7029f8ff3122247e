// Evaluation metrics for anomaly scores: image AUROC, average precision, F1-max, the confusion
// matrix and rates at a threshold, and pixel AUROC over (many) mask pixels. Labels: 1 = defect.
import { BadArgumentError } from '../shared/errors.js';

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export interface ThresholdMetrics extends Confusion {
  threshold: number;
  precision: number;
  recall: number;
  f1: number;
  accuracy: number;
  balancedAccuracy: number;
  /** Share of the good images flagged. */
  falseAlarmRate: number;
}

export interface ImageMetrics {
  imageAuroc: number;
  averagePrecision: number;
  f1Max: number;
  /** The score threshold at which F1 is highest. */
  f1MaxThreshold: number;
}

function check(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
): { positives: number; negatives: number } {
  if (scores.length !== labels.length) {
    throw new BadArgumentError(`Got ${scores.length} scores but ${labels.length} labels.`);
  }
  let positives = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 0 && labels[i] !== 1)
      throw new BadArgumentError(`Label ${labels[i]} at ${i}: labels are 0 (good) or 1 (defect).`);
    if (!Number.isFinite(scores[i]))
      throw new BadArgumentError(`Score at ${i} is not a finite number.`);
    positives += labels[i]!;
  }
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) {
    throw new BadArgumentError(
      `These metrics need both good and defective images; got ${positives} defective and ${negatives} good. ` +
        'Add labeled images of the missing kind to the validation set.',
    );
  }
  return { positives, negatives };
}

/** Indices sorted by descending score. */
function byScoreDescending(scores: ArrayLike<number>): Int32Array {
  const order = Int32Array.from({ length: scores.length }, (_, i) => i);
  return order.sort((a, b) => scores[b]! - scores[a]!);
}

/** Good images' and defects' scores side by side, with their labels (0 good, 1 defect). */
export function withLabels(
  good: readonly number[],
  defect: readonly number[],
): { scores: number[]; labels: (0 | 1)[] } {
  return {
    scores: [...good, ...defect],
    labels: [...good.map(() => 0 as const), ...defect.map(() => 1 as const)],
  };
}

/** How well validation scores separate good images from defects (image AUROC). */
export function validationAuroc(good: readonly number[], defect: readonly number[]): number {
  const { scores, labels } = withLabels(good, defect);
  return auroc(scores, labels);
}

/** Area under the ROC curve; tied scores count half (Mann–Whitney U with average ranks). */
export function auroc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const { positives, negatives } = check(scores, labels);
  const order = byScoreDescending(scores);
  // Walk groups of equal scores from the top: each negative in a group beats the positives
  // ranked above it, and ties with positives in its own group for half.
  let positivesAbove = 0;
  let wins = 0;
  for (let start = 0; start < order.length;) {
    let end = start;
    let groupPositives = 0;
    let groupNegatives = 0;
    while (end < order.length && scores[order[end]!] === scores[order[start]!]) {
      if (labels[order[end]!] === 1) groupPositives++;
      else groupNegatives++;
      end++;
    }
    wins += groupNegatives * (positivesAbove + groupPositives / 2);
    positivesAbove += groupPositives;
    start = end;
  }
  return wins / (positives * negatives);
}

/** Precision/recall at every distinct threshold, highest first. */
function precisionRecallCurve(scores: ArrayLike<number>, labels: ArrayLike<number>) {
  const { positives } = check(scores, labels);
  const order = byScoreDescending(scores);
  const points: { threshold: number; precision: number; recall: number; tp: number; fp: number }[] =
    [];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < order.length; i++) {
    if (labels[order[i]!] === 1) tp++;
    else fp++;
    const last = i === order.length - 1 || scores[order[i + 1]!] !== scores[order[i]!];
    if (last)
      points.push({
        threshold: scores[order[i]!]!,
        precision: tp / (tp + fp),
        recall: tp / positives,
        tp,
        fp,
      });
  }
  return points;
}

/** Average precision as sklearn computes it: Σ (Rₙ − Rₙ₋₁) Pₙ over distinct thresholds. */
export function averagePrecision(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  let previousRecall = 0;
  let ap = 0;
  for (const point of precisionRecallCurve(scores, labels)) {
    ap += (point.recall - previousRecall) * point.precision;
    previousRecall = point.recall;
  }
  return ap;
}

/** The best F1 over all thresholds (an image is flagged when score ≥ threshold). */
export function f1Max(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
): { f1: number; threshold: number } {
  let best = { f1: 0, threshold: Infinity };
  for (const point of precisionRecallCurve(scores, labels)) {
    const f1 =
      point.tp === 0 ? 0 : (2 * point.precision * point.recall) / (point.precision + point.recall);
    if (f1 > best.f1) best = { f1, threshold: point.threshold };
  }
  return best;
}

/** The ROC curve points (false-positive rate, true-positive rate), for charts. */
export function rocCurve(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
): { fpr: number; tpr: number; threshold: number }[] {
  const { positives, negatives } = check(scores, labels);
  return [
    { fpr: 0, tpr: 0, threshold: Infinity },
    ...precisionRecallCurve(scores, labels).map((p) => ({
      fpr: p.fp / negatives,
      tpr: p.tp / positives,
      threshold: p.threshold,
    })),
  ];
}

/**
 * The share of defects caught when at most `falseAlarmRate` of the good images are flagged: the
 * highest true-positive rate among thresholds whose false-positive rate stays within it (an image
 * is flagged when score ≥ threshold). An operating point an inspector can hold a line to, where
 * AUROC averages over every threshold, most of them unusable.
 */
export function recallAtFalseAlarmRate(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  falseAlarmRate: number,
): number {
  if (!(falseAlarmRate >= 0 && falseAlarmRate <= 1))
    throw new BadArgumentError(`A false-alarm rate is between 0 and 1; got ${falseAlarmRate}.`);
  let best = 0;
  for (const point of rocCurve(scores, labels))
    if (point.fpr <= falseAlarmRate && point.tpr > best) best = point.tpr;
  return best;
}

export function atThreshold(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  threshold: number,
): ThresholdMetrics {
  if (scores.length !== labels.length)
    throw new BadArgumentError(`Got ${scores.length} scores but ${labels.length} labels.`);
  const c: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < scores.length; i++) {
    const flagged = scores[i]! >= threshold;
    if (labels[i] === 1) c[flagged ? 'tp' : 'fn']++;
    else c[flagged ? 'fp' : 'tn']++;
  }
  const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);
  const precision = ratio(c.tp, c.tp + c.fp);
  const recall = ratio(c.tp, c.tp + c.fn);
  const specificity = ratio(c.tn, c.tn + c.fp);
  return {
    threshold,
    ...c,
    precision,
    recall,
    f1: ratio(2 * precision * recall, precision + recall),
    accuracy: ratio(c.tp + c.tn, scores.length),
    balancedAccuracy: (recall + specificity) / 2,
    falseAlarmRate: ratio(c.fp, c.fp + c.tn),
  };
}

export function imageMetrics(scores: ArrayLike<number>, labels: ArrayLike<number>): ImageMetrics {
  const best = f1Max(scores, labels);
  return {
    imageAuroc: auroc(scores, labels),
    averagePrecision: averagePrecision(scores, labels),
    f1Max: best.f1,
    f1MaxThreshold: best.threshold,
  };
}

/**
 * Pixel AUROC accumulated image by image into score histograms, so millions of pixels need no
 * sort and little memory. With 2¹⁶ bins over the observed score range the error is far below
 * the third decimal.
 */
export class PixelAuroc {
  private readonly bins: number;
  private readonly positive: Float64Array;
  private readonly negative: Float64Array;
  constructor(
    private readonly low: number,
    private readonly high: number,
    bins = 65536,
  ) {
    if (!(high > low))
      throw new BadArgumentError('PixelAuroc needs a score range with high > low.');
    this.bins = bins;
    this.positive = new Float64Array(bins);
    this.negative = new Float64Array(bins);
  }

  add(scores: ArrayLike<number>, mask: ArrayLike<number>): void {
    if (scores.length !== mask.length)
      throw new BadArgumentError('Anomaly map and mask differ in size.');
    const scale = (this.bins - 1) / (this.high - this.low);
    for (let i = 0; i < scores.length; i++) {
      const bin = Math.min(this.bins - 1, Math.max(0, Math.round((scores[i]! - this.low) * scale)));
      if (mask[i]! > 0) this.positive[bin]!++;
      else this.negative[bin]!++;
    }
  }

  value(): number {
    let positives = 0;
    let negatives = 0;
    for (let b = 0; b < this.bins; b++) {
      positives += this.positive[b]!;
      negatives += this.negative[b]!;
    }
    if (positives === 0 || negatives === 0) {
      throw new BadArgumentError('Pixel AUROC needs masks with both defect and good pixels.');
    }
    let wins = 0;
    let negativesBelow = 0;
    for (let b = 0; b < this.bins; b++) {
      wins += this.positive[b]! * (negativesBelow + this.negative[b]! / 2);
      negativesBelow += this.negative[b]!;
    }
    return wins / (positives * negatives);
  }
}
