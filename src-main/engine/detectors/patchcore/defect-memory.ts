// What a type's labeled defects (an inspector's reviewed verdicts among them) teach the one-class
// detector. Of each defect, the patches its image score comes from (its top
// IMAGE_SCORE_TOP_FRACTION by bank distance) are kept as a second, small memory: all of them, or
// only those that stand out more than any held-out good image does (its top patch when none
// does). A patch nearer to a remembered one than to any good patch then scores higher:
//
//   distance + weight × max(0, distance − distance to the nearest defect patch)
//
// both divided by the bank's typical score. A patch unlike both still scores by its distance to the
// good bank alone, so a new kind of defect is seen as before. Which patches and what weight are
// chosen per type by two-fold cross-validation on the defects against the held-out good images,
// the bank alone (weight 0) first and kept on a tie; a memory that would lift good images above
// defects it never learned is refused (MEMORY_GUARD).
//
// On the real dev types with 10 reviewed defects taken from the test set (EVALUATION.md, Defects
// labeled or reviewed): kolektor 0.921 → 0.978, casting 0.972 → 0.984 (only its patches above every
// good image: all of them taught it false alarms), ELPV mono and poly kept the bank alone.
import * as tf from '@tensorflow/tfjs';
import { auroc } from '../../metrics.js';
import {
  IMAGE_SCORE_TOP_FRACTION,
  imageScoreOf,
  nearestDistances,
  type ImageScoring,
} from '../patch-features.js';

/** The weights cross-validation chooses from; 0 keeps the bank alone. */
export const MEMORY_WEIGHTS = [0, 0.5, 1, 2, 4] as const;
/** Reviewed defects a memory needs: two folds of at least two. */
export const MIN_MEMORY_DEFECTS = 4;
/**
 * How much a memory may lower the AUROC of the good images, as it scores them, against the
 * defects as the bank alone scores them (MemoryChoice's `unlearnedAuroc`): what it costs a defect
 * unlike the ones it learned. Without this guard, a memory of 10 reviewed mono cells validated at
 * 0.978 against 0.930 and lost on the test set, 0.945 → 0.939 (EVALUATION.md, Defects labeled or
 * reviewed).
 */
export const MEMORY_GUARD = 0.02;

/**
 * One image's first-scale patches: features [P, C], bank distances and full patch scores [P], on
 * its patch grid [h, w] (h·w = P).
 */
export interface ImagePatches {
  rows: tf.Tensor2D;
  distances: Float32Array;
  scores: Float32Array;
  grid: [number, number];
}

export class DefectMemory {
  /** Patches stored transposed [C, M] with squared norms [M], as the bank (nearestDistances). */
  readonly rowsT: tf.Tensor2D;
  readonly norms: tf.Tensor1D;

  /** Takes ownership of `rows` [M, C]. */
  constructor(
    rows: tf.Tensor2D,
    readonly weight: number,
  ) {
    this.rowsT = tf.tidy(() => rows.transpose());
    this.norms = tf.tidy(() => tf.sum(tf.square(rows), 1));
    rows.dispose();
  }

  /**
   * What the memory keeps of each defect image [M, C]: those of its top-scoring patches whose
   * bank distance is above `cut` (the highest good image score), else its top patch.
   */
  static rowsOf(defects: readonly ImagePatches[], cut: number): tf.Tensor2D {
    return tf.tidy(() =>
      tf.concat(
        defects.map(({ rows, distances }) => {
          const k = Math.max(1, Math.round(IMAGE_SCORE_TOP_FRACTION * distances.length));
          const top = Array.from(distances.keys())
            .sort((a, b) => distances[b]! - distances[a]!)
            .slice(0, k);
          const above = top.filter((p) => distances[p]! > cut);
          return tf.gather(rows, above.length > 0 ? above : top.slice(0, 1));
        }),
      ),
    );
  }

  /** The highest image score of `good` on the bank alone: the cut `rowsOf` keeps patches above. */
  static cutOf(good: readonly ImagePatches[], scoring: ImageScoring): number {
    return Math.max(...good.map((g) => imageScoreOf(g.distances, g.grid, scoring)));
  }

  get size(): number {
    return this.rowsT.shape[1];
  }

  /**
   * What the memory adds to patches `rows` [P, C] whose bank distances (÷ `typical`) are
   * `distances` [P]: weight × max(0, distance − distance to the nearest defect patch ÷ typical).
   */
  term(rows: tf.Tensor2D, distances: tf.Tensor1D, typical: number): tf.Tensor1D {
    return tf.tidy(() =>
      tf
        .relu(
          tf.sub(distances, tf.sqrt(nearestDistances(rows, this.rowsT, this.norms)).div(typical)),
        )
        .mul(this.weight),
    );
  }

  /** Distances (÷ `typical`) of each of `image`'s patches to the nearest defect patch. */
  async distancesOf(image: ImagePatches, typical: number): Promise<Float32Array> {
    const d = tf.tidy(() =>
      tf.sqrt(nearestDistances(image.rows, this.rowsT, this.norms)).div(typical),
    );
    const values = (await d.data()) as Float32Array;
    d.dispose();
    return values;
  }

  /** The rows [M, C], to save. */
  rows(): tf.Tensor2D {
    return tf.tidy(() => this.rowsT.transpose());
  }

  dispose(): void {
    this.rowsT.dispose();
    this.norms.dispose();
  }
}

/**
 * An image's score with a memory at `weight` added (`share`: the first scale's share of the map),
 * taken by `scoring`.
 */
export function scoreWithMemory(
  image: ImagePatches,
  toDefects: Float32Array,
  weight: number,
  share: number,
  scoring: ImageScoring,
): number {
  const { scores, distances, grid } = image;
  const patch = new Float32Array(scores.length);
  for (let p = 0; p < patch.length; p++)
    patch[p] = scores[p]! + share * weight * Math.max(0, distances[p]! - toDefects[p]!);
  return imageScoreOf(patch, grid, scoring);
}

/** A memory cross-validation may choose: its weight, and whether it keeps only `aboveGood` patches. */
export interface MemoryCandidate {
  weight: number;
  aboveGood: boolean;
}

/**
 * The candidates, the bank alone first (kept on a tie): each weight with every top patch, then
 * with only the patches above the best good image's score.
 */
export const MEMORY_CANDIDATES: MemoryCandidate[] = [
  { weight: 0, aboveGood: false },
  ...[false, true].flatMap((aboveGood) =>
    MEMORY_WEIGHTS.filter((w) => w > 0).map((weight) => ({ weight, aboveGood })),
  ),
];

/** What cross-validation chose (DefectMemoryDto), and each defect's score from the other fold. */
export interface MemoryChoice extends MemoryCandidate {
  /**
   * Each candidate's cross-validated AUROC, and `unlearnedAuroc`: the good images as it scores
   * them against the judged defects as the bank alone scores them, as a defect it never learned.
   */
  candidates: (MemoryCandidate & { validationAuroc: number; unlearnedAuroc: number })[];
  /** Each defect's image score as chosen, from the memory of the fold it is not in. */
  outOfFold: number[];
}

/** The patches a memory keeps above (DefectMemory.rowsOf): the best good image's score, or none. */
export function cutFor(
  aboveGood: boolean,
  good: readonly ImagePatches[],
  scoring: ImageScoring,
): number {
  return aboveGood ? DefectMemory.cutOf(good, scoring) : -Infinity;
}

/**
 * Two-fold cross-validation of each of MEMORY_CANDIDATES: the memory of one half of the defects
 * judged on the other half against `good`; the mean of the two folds' AUROCs. The first best is
 * kept among the candidates whose `unlearnedAuroc` is within MEMORY_GUARD of the bank's. Image
 * scores are taken by `scoring`, as the detector takes them.
 */
export async function chooseMemory(
  defects: readonly ImagePatches[],
  good: readonly ImagePatches[],
  typical: number,
  share: number,
  scoring: ImageScoring,
): Promise<MemoryChoice> {
  const folds = [0, 1].map((f) => defects.map((_, i) => i).filter((i) => i % 2 === f));
  const aurocs = MEMORY_CANDIDATES.map(() => 0);
  const unlearned = MEMORY_CANDIDATES.map(() => 0);
  const outOfFold = MEMORY_CANDIDATES.map(() => new Array<number>(defects.length).fill(0));
  for (const [f, own] of folds.entries()) {
    const judged = folds[1 - f]!;
    const labels = [...good.map(() => 0), ...judged.map(() => 1)];
    // The judged defects as the bank alone scores them: a defect no memory learned.
    const bankScores = judged.map((i) =>
      imageScoreOf(defects[i]!.scores, defects[i]!.grid, scoring),
    );
    for (const aboveGood of [false, true]) {
      const memory = new DefectMemory(
        DefectMemory.rowsOf(
          own.map((i) => defects[i]!),
          cutFor(aboveGood, good, scoring),
        ),
        1,
      );
      try {
        const goodTo = await Promise.all(good.map((g) => memory.distancesOf(g, typical)));
        const defectTo = await Promise.all(
          judged.map((i) => memory.distancesOf(defects[i]!, typical)),
        );
        for (const [c, candidate] of MEMORY_CANDIDATES.entries()) {
          // The bank alone (weight 0, every top patch) is judged once, with the first memory.
          if (candidate.aboveGood !== aboveGood) continue;
          const { weight } = candidate;
          const goodScores = good.map((g, j) =>
            scoreWithMemory(g, goodTo[j]!, weight, share, scoring),
          );
          const defectScores = judged.map((i, j) =>
            scoreWithMemory(defects[i]!, defectTo[j]!, weight, share, scoring),
          );
          judged.forEach((i, j) => (outOfFold[c]![i] = defectScores[j]!));
          aurocs[c]! += auroc([...goodScores, ...defectScores], labels) / folds.length;
          unlearned[c]! += auroc([...goodScores, ...bankScores], labels) / folds.length;
        }
      } finally {
        memory.dispose();
      }
    }
  }
  let best = 0;
  aurocs.forEach((a, c) => {
    if (a > aurocs[best]! && unlearned[c]! >= unlearned[0]! - MEMORY_GUARD) best = c;
  });
  return {
    ...MEMORY_CANDIDATES[best]!,
    candidates: MEMORY_CANDIDATES.map((c, i) => ({
      ...c,
      validationAuroc: aurocs[i]!,
      unlearnedAuroc: unlearned[i]!,
    })),
    outOfFold: outOfFold[best]!,
  };
}
