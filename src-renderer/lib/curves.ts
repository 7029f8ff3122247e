// Curves and counts for a model page, from scores (0..1, threshold at 0.5) and true labels
// (1 = defect): ROC, precision-recall, a histogram per class, and the confusion at a threshold.
export interface Labelled {
  scores: number[];
  labels: (0 | 1)[];
}

export interface Point {
  x: number;
  y: number;
}

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  precision: number;
  recall: number;
}

function byScoreDescending(data: Labelled): { score: number; label: 0 | 1 }[] {
  return data.scores
    .map((score, i) => ({ score, label: data.labels[i]! }))
    .sort((a, b) => b.score - a.score);
}

/**
 * Lowers the threshold through every distinct score, highest first, and makes a point of the
 * true and false positives flagged at each.
 */
function sweep(data: Labelled, point: (tp: number, fp: number) => Point): Point[] {
  const points: Point[] = [];
  let tp = 0;
  let fp = 0;
  const sorted = byScoreDescending(data);
  sorted.forEach((item, i) => {
    if (item.label === 1) tp++;
    else fp++;
    if (i === sorted.length - 1 || sorted[i + 1]!.score !== item.score) points.push(point(tp, fp));
  });
  return points;
}

/** ROC points (false-positive rate, true-positive rate), one per distinct score. */
export function rocPoints(data: Labelled): Point[] {
  const positives = data.labels.filter((l) => l === 1).length;
  const negatives = data.labels.length - positives;
  if (positives === 0 || negatives === 0) return [];
  return [{ x: 0, y: 0 }, ...sweep(data, (tp, fp) => ({ x: fp / negatives, y: tp / positives }))];
}

/** Precision-recall points (recall, precision). */
export function prPoints(data: Labelled): Point[] {
  const positives = data.labels.filter((l) => l === 1).length;
  if (positives === 0) return [];
  return sweep(data, (tp, fp) => ({ x: tp / positives, y: tp / (tp + fp) }));
}

/** Counts per bin of [0, 1] (scores above 1 land in the last bin), per class. */
export function histogram(data: Labelled, bins = 20): { good: number[]; defect: number[] } {
  const good = new Array<number>(bins).fill(0);
  const defect = new Array<number>(bins).fill(0);
  data.scores.forEach((score, i) => {
    const bin = Math.min(bins - 1, Math.max(0, Math.floor(score * bins)));
    (data.labels[i] === 1 ? defect : good)[bin]!++;
  });
  return { good, defect };
}

/** Images at or above the threshold count as flagged. */
export function confusionAt(data: Labelled, threshold: number): Confusion {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  data.scores.forEach((score, i) => {
    const flagged = score >= threshold;
    if (data.labels[i] === 1) {
      if (flagged) tp++;
      else fn++;
    } else if (flagged) fp++;
    else tn++;
  });
  return {
    tp,
    fp,
    tn,
    fn,
    precision: tp + fp > 0 ? tp / (tp + fp) : 0,
    recall: tp + fn > 0 ? tp / (tp + fn) : 0,
  };
}
