// Scores one-class variants on features cached by bench/one-class-cache.ts, the way
// PatchcoreDetector does (its PatchSample, greedyCoreset, nearestDistances, imageScores and
// typical score), and prints one JSON line per variant with each type's image AUROC and their
// mean (eval's "overall"). With the cached split it reproduces `defectscope eval` exactly
// (0.978 for the raw two-scale setting, 0.986 with the coarse scale centred).
// Usage: TYPES=leather,wood SIZE=448 OUT=/tmp/ocf \
//   VARIANTS='[{"scales":[1,0.5],"centre":[false,true],"bank":2048,"seed":1}]' \
//   npx tsx bench/one-class-offline.ts
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src-main/engine/backend.js';
import { imageScores, nearestDistances } from '../src-main/engine/detectors/patch-features.js';
import { greedyCoreset } from '../src-main/engine/detectors/patchcore/coreset.js';
import { PatchSample } from '../src-main/engine/detectors/patchcore/patch-sample.js';
import { auroc } from '../src-main/engine/metrics.js';
import { quantile } from '../src-main/engine/threshold.js';

interface Variant {
  scales: number[];
  /** Per scale: judged relative to each image (PatchcoreConfig.centredScales). */
  centre?: boolean[];
  bank: number;
  seed: number;
}
interface Cached {
  data: Float32Array;
  shape: [number, number, number, number];
  labels: number[];
}

await initBackend('wasm');
const types = (process.env.TYPES ?? 'grid,wood,bottle,leather,pill,nut').split(',');
const size = process.env.SIZE ?? '448';
const out = process.env.OUT ?? '/tmp/ocf';
const variants = JSON.parse(
  process.env.VARIANTS ?? '[{"scales":[1,0.5],"bank":2048,"seed":1}]',
) as Variant[];

function load(type: string, set: string, scale: number, centre: boolean): Cached {
  const base = join(out, `${type}-${size}`, `${set}-${scale}`);
  const meta = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as Omit<Cached, 'data'>;
  const bytes = readFileSync(`${base}.bin`);
  const data = new Float32Array(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
  );
  if (!centre) return { ...meta, data };
  const [n, h, w, c] = meta.shape;
  const patches = h * w;
  const centred = new Float32Array(data.length);
  for (let i = 0; i < n; i++) {
    const mean = new Float64Array(c);
    for (let j = 0; j < patches; j++)
      for (let k = 0; k < c; k++) mean[k]! += data[(i * patches + j) * c + k]!;
    for (let j = 0; j < patches; j++)
      for (let k = 0; k < c; k++)
        centred[(i * patches + j) * c + k] = data[(i * patches + j) * c + k]! - mean[k]! / patches;
  }
  return { ...meta, data: centred };
}

/** One scale's patch maps [N, h, w] of the test images, divided by the bank's typical score. */
async function scaleMaps(type: string, scale: number, centre: boolean, v: Variant) {
  const fit = load(type, 'fit', scale, centre);
  const [n, h, w, c] = fit.shape;
  const sample = new PatchSample(v.seed);
  for (let i = 0; i < n; i += 4) {
    const k = Math.min(4, n - i);
    const t = tf.tensor3d(fit.data.subarray(i * h * w * c, (i + k) * h * w * c), [k, h * w, c]);
    await sample.add(t);
    t.dispose();
  }
  const all = sample.rowsTensor();
  const bankSize = Math.max(1, Math.min(v.bank, Math.round(sample.patchesSeen * 0.1)));
  const picks = await greedyCoreset(all, { size: bankSize, seed: v.seed, maxCandidates: 200_000 });
  const bank = tf.tidy(() => tf.gather(all, picks));
  all.dispose();
  const bankT = tf.tidy(() => bank.transpose<tf.Tensor2D>());
  const norms = tf.tidy(() => tf.sum<tf.Tensor1D>(tf.square(bank), 1));
  bank.dispose();
  const maps = (data: Float32Array, count: number) => {
    const parts: tf.Tensor3D[] = [];
    for (let i = 0; i < count; i += 16) {
      const k = Math.min(16, count - i);
      const rows = tf.tensor2d(data.subarray(i * h * w * c, (i + k) * h * w * c), [k * h * w, c]);
      parts.push(tf.tidy(() => tf.sqrt(nearestDistances(rows, bankT, norms)).reshape([k, h, w])));
      rows.dispose();
    }
    const joined = tf.concat(parts);
    tf.dispose(parts);
    return joined;
  };
  const typicalImages = tf.tidy(() => tf.stack(sample.images));
  const typicalMaps = maps((await typicalImages.data()) as Float32Array, sample.images.length);
  const typicalScores = imageScores(typicalMaps);
  const typical = quantile(Array.from(await typicalScores.data()), 0.5);
  tf.dispose([typicalImages, typicalMaps, typicalScores]);
  sample.dispose();
  const test = load(type, 'test', scale, centre);
  const raw = maps(test.data, test.shape[0]);
  const divided = tf.tidy(() => raw.div(typical) as tf.Tensor3D);
  tf.dispose([raw, bankT, norms]);
  return { maps: divided, labels: test.labels };
}

for (const v of variants) {
  const started = Date.now();
  const row: Record<string, number> = {};
  for (const type of types) {
    const perScale: tf.Tensor3D[] = [];
    let labels: number[] = [];
    for (const [i, scale] of v.scales.entries()) {
      const result = await scaleMaps(type, scale, v.centre?.[i] ?? false, v);
      labels = result.labels;
      const [, h, w] = perScale[0]?.shape ?? result.maps.shape;
      if (result.maps.shape[1] === h && result.maps.shape[2] === w) perScale.push(result.maps);
      else {
        perScale.push(
          tf.tidy(() =>
            tf.image.resizeBilinear(result.maps.expandDims(3) as tf.Tensor4D, [h, w]).squeeze([3]),
          ),
        );
        result.maps.dispose();
      }
    }
    const scores = tf.tidy(() =>
      imageScores(perScale.length === 1 ? perScale[0]! : tf.addN(perScale).div(perScale.length)),
    );
    row[type] = Number(auroc(Array.from(await scores.data()), labels).toFixed(3));
    tf.dispose([scores, ...perScale]);
  }
  const overall = Object.values(row).reduce((a, b) => a + b, 0) / types.length;
  console.log(
    JSON.stringify({
      ...v,
      overall: Number(overall.toFixed(4)),
      ...row,
      seconds: Math.round((Date.now() - started) / 1000),
      tensors: tf.memory().numTensors,
    }),
  );
}
process.exit(0);
