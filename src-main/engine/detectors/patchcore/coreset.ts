// Greedy coreset subsampling (PatchCore, Roth et al. 2022, Alg. 1): repeatedly keep the patch
// farthest from everything kept so far, so a small bank still covers every kind of normal patch.
// Distances are computed in a seeded random projection (Johnson–Lindenstrauss) for speed.
import * as tf from '@tensorflow/tfjs';
import { CancelledError } from '../../../shared/errors.js';
import { Rng } from '../../../shared/random.js';

export interface CoresetOptions {
  /** How many patches to keep. */
  size: number;
  /** Dimensions of the random projection used only for selection. */
  projection?: number;
  seed?: number;
  /**
   * Candidates the greedy search considers; beyond this a seeded uniform sample of the patches is
   * searched. Time grows with candidates × size, so this bounds fitting on many images.
   */
  maxCandidates?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/**
 * Indices (into the rows of `features` [N, C]) of the greedy coreset. The selection loop is a
 * matrix–vector product per step; as one fused loop over a Float32Array it ran ~10× faster
 * here than the same step as three TF.js ops (op dispatch dominates at this size).
 */
export async function greedyCoreset(
  features: tf.Tensor2D,
  options: CoresetOptions,
): Promise<number[]> {
  const [total, channels] = features.shape;
  const size = Math.min(options.size, total);
  if (size >= total) return Array.from({ length: total }, (_, i) => i);
  const dims = Math.min(options.projection ?? 32, channels);
  const seed = options.seed ?? 0;
  // The projection from our own seeded generator: tf.randomNormal takes a seed of 0 as "no seed"
  // and draws from Math.random, which made banks and zero-shot scores differ run to run.
  const projected = tf.tidy(() => {
    if (dims === channels) return features.clone();
    const rng = new Rng(seed);
    const weights = Float32Array.from(
      { length: channels * dims },
      () => rng.normal() / Math.sqrt(dims),
    );
    return tf.matMul(features, tf.tensor2d(weights, [channels, dims]));
  });
  const projectedValues = (await projected.data()) as Float32Array;
  projected.dispose();
  const candidates = candidateRows(total, options.maxCandidates ?? 200_000, seed);
  const count = candidates.length;
  const picks = Math.min(size, count);
  const x = candidates.length === total ? projectedValues : new Float32Array(count * dims);
  if (x !== projectedValues) {
    candidates.forEach((row, i) =>
      x.set(projectedValues.subarray(row * dims, (row + 1) * dims), i * dims),
    );
  }

  const norms = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    let n = 0;
    for (let k = 0; k < dims; k++) n += x[i * dims + k]! ** 2;
    norms[i] = n;
  }
  const minDistance = new Float32Array(count).fill(Infinity);
  const chosen: number[] = [];
  let next = seed % count;
  for (let step = 0; step < picks; step++) {
    chosen.push(next);
    const c = next * dims;
    const centerNorm = norms[next]!;
    let farthest = 0;
    let farthestDistance = -Infinity;
    for (let i = 0, row = 0; i < count; i++, row += dims) {
      // Eight products a pass, added in the same order as one at a time (so the same picks):
      // about 1.9× faster under V8 than the plain loop (BENCHMARKS.md, Retraining).
      let dot = 0;
      let k = 0;
      for (; k + 8 <= dims; k += 8) {
        dot += x[row + k]! * x[c + k]!;
        dot += x[row + k + 1]! * x[c + k + 1]!;
        dot += x[row + k + 2]! * x[c + k + 2]!;
        dot += x[row + k + 3]! * x[c + k + 3]!;
        dot += x[row + k + 4]! * x[c + k + 4]!;
        dot += x[row + k + 5]! * x[c + k + 5]!;
        dot += x[row + k + 6]! * x[c + k + 6]!;
        dot += x[row + k + 7]! * x[c + k + 7]!;
      }
      for (; k < dims; k++) dot += x[row + k]! * x[c + k]!;
      const d = Math.min(minDistance[i]!, norms[i]! - 2 * dot + centerNorm);
      minDistance[i] = d;
      if (d > farthestDistance) {
        farthestDistance = d;
        farthest = i;
      }
    }
    next = farthest;
    if (step % 256 === 255) {
      options.onProgress?.(step + 1, picks);
      await new Promise((resolve) => setImmediate(resolve)); // let progress and cancel through
      if (options.signal?.aborted) throw new CancelledError('Fitting was cancelled.');
    }
  }
  options.onProgress?.(picks, picks);
  return chosen.map((i) => candidates[i]!);
}

/** All rows, or a seeded uniform sample of `limit` of them in ascending order. */
function candidateRows(total: number, limit: number, seed: number): number[] {
  const all = Array.from({ length: total }, (_, i) => i);
  if (total <= limit) return all;
  return new Rng(seed)
    .shuffle(all)
    .slice(0, limit)
    .sort((a, b) => a - b);
}
