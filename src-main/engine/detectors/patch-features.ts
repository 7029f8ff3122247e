// Patch features for the patch-based detectors: intermediate encoder maps (stride 4 and 8 by
// default), each averaged over its 3×3 neighbourhood so a patch sees a little context, the
// coarser map resized onto the finer grid, channels concatenated. Defects are small, so the
// detectors work on these local features, never only on the pooled embedding.
import { readFile, writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { ModelError } from '../../shared/errors.js';
import { FEW_SHOT_IMAGES } from '../../shared/model-quality.js';
import type { Encoder, FeatureName } from '../encoders/encoder.js';
import { imagesPerPass } from '../memory-plan.js';
import type { ScoreResult } from './detector.js';

export interface PatchFeatureConfig {
  layers: FeatureName[];
  /** Side of the neighbourhood average (1 = none): one for every map, or one per map of `layers`. */
  neighbourhood: number | readonly number[];
}

/**
 * Stride 4 + 8 rather than 8 + 16: on the synthetic textures (thin threads, scratches along wood
 * grain) it lifted one-class AUROC from 0.77 to 0.92 (grid) and 0.73 to 0.87 (wood), at about
 * 3× the time, and zero-shot wood at 448 px from 0.77 to 0.95; see EVALUATION.md.
 */
export const defaultPatchFeatures: PatchFeatureConfig = {
  layers: ['stride4', 'stride8'],
  neighbourhood: 3,
};

/**
 * Pixels encoded in one forward pass on a CPU backend: 16 images at 224 px (4 at 448). Larger
 * passes are no faster there and raise the wasm heap's high-water mark; a GPU takes as many as
 * its memory limits allow.
 */
const CPU_ENCODE_PIXELS = 16 * 224 * 224;

/** [B, H, W, 3] images → [B, h, w, C] patch features on the grid of the first layer. */
export function patchFeatures(
  encoder: Encoder,
  images: tf.Tensor4D,
  config: PatchFeatureConfig = defaultPatchFeatures,
): tf.Tensor4D {
  const [count, height, width] = images.shape;
  // The probe runs this function on 1 and 2 images, which imagesPerPass never probes again.
  const perPass = imagesPerPass({
    owner: encoder,
    key: `patch-features ${config.layers.join('+')} ${height}x${width}`,
    count,
    step: (batch) => patchFeatures(encoder, tf.zeros([batch, height, width, 3]), config),
    cpuCap: Math.max(1, Math.floor(CPU_ENCODE_PIXELS / (height * width))),
    what: `encoding one ${width}×${height} px image for patch features`,
  });
  if (count > perPass) {
    // Encoder activations grow with batch × pixels; a batch of 16 at 448 px overflowed wasm's
    // heap. Encode in slices that fit (memory-plan.ts); the features themselves are small.
    return tf.tidy(() => {
      const parts: tf.Tensor4D[] = [];
      for (let start = 0; start < count; start += perPass) {
        const slice = images.slice([start], [Math.min(perPass, count - start)]);
        parts.push(patchFeatures(encoder, slice, config));
      }
      return tf.concat(parts);
    });
  }
  return tf.tidy(() => {
    const { features } = encoder.encode(images);
    const maps = config.layers.map((name, i) => {
      const map = features[name];
      if (!map) throw new Error(`encoder ${encoder.info.kind} has no ${name} feature map`);
      const side =
        typeof config.neighbourhood === 'number' ? config.neighbourhood : config.neighbourhood[i];
      if (side === undefined) throw new Error(`no neighbourhood given for the ${name} map`);
      return side > 1 ? tf.avgPool(map, side, 1, 'same') : map;
    });
    const [first] = maps;
    const [height, width] = [first!.shape[1], first!.shape[2]];
    const aligned = maps.map((m) =>
      m.shape[1] === height && m.shape[2] === width
        ? m
        : tf.image.resizeBilinear(m, [height, width]),
    );
    return aligned.length === 1 ? aligned[0]! : tf.concat(aligned, 3);
  });
}

/**
 * Patch scores [B, h, w] → per-image anomaly maps at the image size: bilinear upsampling, then
 * a Gaussian blur (σ = 4 px as in PatchCore) so the map follows the defect, not the grid.
 */
export function toAnomalyMaps(
  patchScores: tf.Tensor3D,
  size: [number, number],
  sigma = 4,
): tf.Tensor3D {
  return tf.tidy(() => {
    const up = tf.image.resizeBilinear(patchScores.expandDims(3) as tf.Tensor4D, size);
    const radius = Math.ceil(3 * sigma);
    const taps = Array.from({ length: 2 * radius + 1 }, (_, i) =>
      Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)),
    );
    const sum = taps.reduce((a, b) => a + b, 0);
    const kernel = tf.tensor1d(taps.map((t) => t / sum));
    // Separable blur; edge padding by reflection keeps borders from darkening.
    const padded: tf.Tensor4D = tf.mirrorPad(
      up,
      [
        [0, 0],
        [radius, radius],
        [radius, radius],
        [0, 0],
      ],
      'reflect',
    );
    const rows = tf.conv2d(
      padded,
      kernel.reshape<tf.Tensor4D>([2 * radius + 1, 1, 1, 1]),
      1,
      'valid',
    );
    const both = tf.conv2d(
      rows,
      kernel.reshape<tf.Tensor4D>([1, 2 * radius + 1, 1, 1]),
      1,
      'valid',
    );
    return both.squeeze([3]) as tf.Tensor3D;
  });
}

/** Floats in one block of the query × bank distance matrix (64 MB). */
const DISTANCE_BLOCK = 16 * 1024 * 1024;

/**
 * Squared Euclidean distances from each row of `queries` [N, C] to the nearest column of a bank
 * stored pre-transposed as [C, M] with its squared norms [M] (matMul without transposeB runs
 * ~10× faster on wasm). Works through blocks of rows × columns of at most DISTANCE_BLOCK
 * distances, so a batch of stride-4 patches against a large bank never fills wasm's 4 GB heap.
 */
export function nearestDistances(
  queries: tf.Tensor2D,
  bankT: tf.Tensor2D,
  bankNorms: tf.Tensor1D,
): tf.Tensor1D {
  const [rows] = queries.shape;
  const columns = bankT.shape[1];
  const chunk = Math.min(columns, Math.max(256, Math.floor(DISTANCE_BLOCK / rows)));
  const rowBlock = Math.max(1, Math.floor(DISTANCE_BLOCK / chunk));
  // Each block in its own tidy: one tidy around the loops would keep every block's distance
  // matrix alive until the end.
  const results: tf.Tensor1D[] = [];
  try {
    for (let first = 0; first < rows; first += rowBlock) {
      // The block's rows and their squared norms, once for all of the bank's chunks.
      const [block, blockNorms] = tf.tidy(() => {
        const rowsHere = queries.slice([first, 0], [Math.min(rowBlock, rows - first), -1]);
        return [rowsHere, tf.sum(tf.square(rowsHere), 1, true)];
      });
      let best: tf.Tensor1D | undefined;
      try {
        for (let start = 0; start < columns; start += chunk) {
          const size = Math.min(chunk, columns - start);
          const next = tf.tidy(() => {
            const d = tf.add(
              tf.sub(blockNorms, tf.mul(2, tf.matMul(block, bankT.slice([0, start], [-1, size])))),
              bankNorms.slice(start, size),
            );
            const min = tf.min(d, 1) as tf.Tensor1D;
            return best ? (tf.minimum(best, min) as tf.Tensor1D) : min;
          });
          best?.dispose();
          best = next;
        }
        results.push(tf.tidy(() => tf.relu(best!) as tf.Tensor1D)); // rounding can go below 0
      } finally {
        tf.dispose([block, blockNorms]);
        best?.dispose();
      }
    }
    return results.length === 1 ? results.pop()! : (tf.concat(results) as tf.Tensor1D);
  } finally {
    tf.dispose(results);
  }
}

/**
 * Share of an image's patches whose scores are averaged into the image score. The single largest
 * patch score (PatchCore's choice) lets one odd patch of a good image decide; the mean of the top
 * 1 % still follows a defect that covers ≥ 1 % of the patches and is steadier on good images.
 * Measured on the synthetic types (224 px, EVALUATION.md): one-class grid 0.938 → 0.973,
 * zero-shot overall 0.886 → 0.929.
 */
export const IMAGE_SCORE_TOP_FRACTION = 0.01;

/**
 * How a patch detector turns its patch scores [B, h, w] into image scores: each patch's score
 * first averaged with its neighbours over `smooth` × `smooth` places (1: as it is; at the map's
 * edge over the places there are), then the mean of the top `topFraction` of them.
 */
export interface ImageScoring {
  smooth: number;
  topFraction: number;
}

/** The top 1 % of the patch scores as they are: zero-shot's, and one-class models saved before. */
export const TOP_PATCHES: ImageScoring = { smooth: 1, topFraction: IMAGE_SCORE_TOP_FRACTION };

/**
 * One-class's: the top 2 % of the patch scores averaged over 3 × 3 places. A crack or a pinhole
 * lifts a few neighbouring patches together, while a good part's odd patches stand alone. On the
 * real dev types, eval's defaults, mean of two seeds: ELPV mono 0.954 → 0.956, poly 0.870 →
 * 0.886, casting 0.979 → 0.980, kolektor 0.938 → 0.942 (EVALUATION.md, The image score from
 * neighbouring patches).
 */
export const SMOOTHED_TOP_PATCHES: ImageScoring = { smooth: 3, topFraction: 0.02 };

/**
 * The image scoring of a one-class model fitted on `goodImages` good images, with `labeledDefects`
 * defect labels (reviewed or imported) to validate and learn from: SMOOTHED_TOP_PATCHES, measured
 * better only where neither is the case; otherwise TOP_PATCHES.
 * - Below FEW_SHOT_IMAGES: ten shots leave whole regions of a good part unseen (a pose, a turn of
 *   the impeller), which lift neighbouring patches together as a defect does; at 10 shots the
 *   smoothed score lost on mono and casting at both seeds (casting 0.892 → 0.872, 0.881 → 0.860).
 * - With labeled defects (the defect memory's path): with 10 reviewed defects a type (seed 1) it
 *   lost on poly (0.868 → 0.857) and casting (0.984 → 0.976).
 * (EVALUATION.md, The image score from neighbouring patches.)
 */
export function oneClassScoring(goodImages: number, labeledDefects: number): ImageScoring {
  return goodImages < FEW_SHOT_IMAGES || labeledDefects > 0 ? TOP_PATCHES : SMOOTHED_TOP_PATCHES;
}

/** Image scores [B] from patch scores [B, h, w], as `scoring` says. */
export function imageScores(
  patchScores: tf.Tensor3D,
  scoring: ImageScoring = TOP_PATCHES,
): tf.Tensor1D {
  return tf.tidy(() => {
    const [count, h, w] = patchScores.shape;
    const k = Math.max(1, Math.round(scoring.topFraction * h * w));
    // avgPool's 'same' padding averages over the places inside the map only.
    const smoothed =
      scoring.smooth > 1
        ? tf.avgPool(
            patchScores.reshape([count, h, w, 1]) as tf.Tensor4D,
            scoring.smooth,
            1,
            'same',
          )
        : patchScores;
    return tf.mean(tf.topk(smoothed.reshape([count, h * w]), k).values, 1) as tf.Tensor1D;
  });
}

/** One image's score from its patch map [h·w] on `grid` [h, w], as `imageScores` takes it. */
export function imageScoreOf(
  map: Float32Array,
  [h, w]: readonly [number, number],
  scoring: ImageScoring,
): number {
  const r = Math.floor(scoring.smooth / 2);
  const smoothed = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let sum = 0;
      let count = 0;
      for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++) {
        for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++) {
          sum += map[yy * w + xx]!;
          count++;
        }
      }
      smoothed[y * w + x] = sum / count;
    }
  }
  const k = Math.max(1, Math.round(scoring.topFraction * h * w));
  const top = smoothed.sort().subarray(h * w - k);
  return top.reduce((a, b) => a + b, 0) / k;
}

/**
 * Per-image results from patch scores [B, h, w]: the image score is `imageScores`'; with
 * `anomalyMaps`, each image also gets its map at the scored images' size. Disposes
 * `patchScores` (the patch detectors hand it over).
 */
export async function patchResults(
  patchScores: tf.Tensor3D,
  size: [number, number],
  anomalyMaps: boolean,
  scoring: ImageScoring = TOP_PATCHES,
): Promise<ScoreResult[]> {
  const [height, width] = size;
  try {
    const perImage = imageScores(patchScores, scoring);
    const scores = (await perImage.data()) as Float32Array;
    perImage.dispose();
    const maps = anomalyMaps ? toAnomalyMaps(patchScores, size) : undefined;
    try {
      const mapData = maps ? ((await maps.data()) as Float32Array) : undefined;
      return Array.from(scores, (score, i) => ({
        score,
        ...(mapData
          ? {
              anomalyMap: {
                width,
                height,
                data: mapData.slice(i * height * width, (i + 1) * height * width),
              },
            }
          : {}),
      }));
    } finally {
      maps?.dispose();
    }
  } finally {
    patchScores.dispose();
  }
}

/** Writes a float32 tensor's values to `path` as raw little-endian floats, and disposes it. */
export async function writeTensor(path: string, tensor: tf.Tensor): Promise<void> {
  try {
    const values = (await tensor.data()) as Float32Array;
    await writeFile(path, Buffer.from(values.buffer, values.byteOffset, values.byteLength));
  } finally {
    tensor.dispose();
  }
}

/**
 * The `count` float32 values `writeTensor` wrote to `path`. A file of another size means a
 * damaged model folder (ModelError); a missing file keeps its ENOENT error.
 */
export async function readFloats(path: string, count: number): Promise<Float32Array> {
  const bytes = await readFile(path);
  if (bytes.byteLength !== count * 4) {
    throw new ModelError(
      `${path} holds ${bytes.byteLength} bytes; expected ${count * 4}. The model folder is damaged.`,
    );
  }
  return new Float32Array(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
  );
}
