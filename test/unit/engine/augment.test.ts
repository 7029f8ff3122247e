// SimCLR's random views: each augmentation does what it says, seeded runs repeat exactly,
// CutPaste changes one rectangle, and no call leaks tensors.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../../src-main/shared/random.js';
import {
  augmentBatch,
  cutPaste,
  noAugmentation,
  simclrAugmentations,
  type AugmentOptions,
} from '../../../src-main/engine/augment.js';
import { initBackend } from '../../../src-main/engine/backend.js';
import { arrayOf, largestDifference, scalarOf } from '../../fixtures/numeric.js';

beforeAll(async () => {
  // wasm is what training uses on a factory PC; DEFECTSCOPE_BACKEND=cpu checks the other path.
  await initBackend(process.env.DEFECTSCOPE_BACKEND ?? 'wasm');
});

function texturedImages(batch: number, size: number, seed = 5): tf.Tensor4D {
  return tf.randomUniform([batch, size, size, 3], 0, 1, 'float32', seed) as tf.Tensor4D;
}

function only(overrides: Partial<AugmentOptions>, size = 16): AugmentOptions {
  return { ...noAugmentation(size), ...overrides };
}

describe('Rng', () => {
  it('repeats its stream from a seed and from a saved state', () => {
    const a = new Rng(42);
    const first = [a.next(), a.next(), a.next()];
    expect([new Rng(42).next(), new Rng(42).next()]).toEqual([first[0], first[0]]);
    const saved = a.getState();
    const next = a.next();
    const b = new Rng(0);
    b.setState(saved);
    expect(b.next()).toBe(next);
  });

  it('gives unrelated streams for neighbouring steps', () => {
    const x = Rng.derive(1, 7).next();
    const y = Rng.derive(1, 8).next();
    expect(x).not.toBe(y);
    expect(Rng.derive(1, 7).next()).toBe(x);
  });
});

describe('augmentBatch', () => {
  it('leaves the image as it is when every augmentation is off', async () => {
    const images = texturedImages(2, 16);
    const out = augmentBatch(images, new Rng(1), noAugmentation(16));
    expect(out.shape).toEqual([2, 16, 16, 3]);
    expect(await largestDifference(out, images)).toBeLessThan(1e-5);
    tf.dispose([images, out]);
  });

  it('flips left-right and up-down', async () => {
    const images = texturedImages(3, 16);
    const lr = augmentBatch(images, new Rng(1), only({ flipHorizontal: 1 }));
    const ud = augmentBatch(images, new Rng(1), only({ flipVertical: 1 }));
    const [expectLr, expectUd] = [tf.reverse(images, 2), tf.reverse(images, 1)];
    expect(await largestDifference(lr, expectLr)).toBeLessThan(1e-5);
    expect(await largestDifference(ud, expectUd)).toBeLessThan(1e-5);
    tf.dispose([images, lr, ud, expectLr, expectUd]);
  });

  it('turns each image by a multiple of 90° without resampling blur', async () => {
    const images = texturedImages(8, 16);
    const out = augmentBatch(images, new Rng(3), only({ rotate90: true }));
    const turns = await arrayOf<number[][]>(() => {
      const r1 = tf.reverse(tf.transpose(images, [0, 2, 1, 3]), 1);
      const r2 = tf.reverse(images, [1, 2]);
      const r3 = tf.reverse(tf.transpose(images, [0, 2, 1, 3]), 2);
      return tf.stack([images, r1, r2, r3].map((r) => tf.max(tf.abs(tf.sub(out, r)), [1, 2, 3])));
    });
    const seen = new Set<number>();
    for (let b = 0; b < 8; b++) {
      const match = turns.findIndex((t) => t[b]! < 1e-5);
      expect(match).toBeGreaterThanOrEqual(0);
      seen.add(match);
    }
    expect(seen.size).toBeGreaterThan(1);
    tf.dispose([images, out]);
  });

  it('crops a part of the image and resizes it to the view size', async () => {
    // A left-to-right ramp: a crop covers a narrower range of values than the whole image.
    const ramp = tf.tidy(() =>
      tf.tile(tf.reshape(tf.linspace(0, 1, 64), [1, 1, 64, 1]), [4, 64, 1, 3]),
    ) as tf.Tensor4D;
    const out = augmentBatch(
      ramp,
      new Rng(9),
      only({ crop: { minArea: 0.2, maxArea: 0.3, minAspect: 1, maxAspect: 1 } }, 32),
    );
    expect(out.shape).toEqual([4, 32, 32, 3]);
    const ranges = await arrayOf<number[]>(() =>
      tf.sub(tf.max(out, [1, 2, 3]), tf.min(out, [1, 2, 3])),
    );
    for (const range of ranges) {
      expect(range).toBeGreaterThan(0.3);
      expect(range).toBeLessThan(0.6);
    }
    tf.dispose([ramp, out]);
  });

  it('drops colour when grayscale is drawn', async () => {
    const images = texturedImages(2, 16);
    const out = augmentBatch(images, new Rng(1), only({ grayscale: 1 }));
    const spread = await scalarOf(() => tf.max(tf.sub(tf.max(out, -1), tf.min(out, -1))));
    expect(spread).toBeLessThan(1e-5);
    tf.dispose([images, out]);
  });

  it('blurs: noise loses contrast but keeps its mean brightness', async () => {
    const images = texturedImages(2, 32);
    const out = augmentBatch(
      images,
      new Rng(1),
      only({ blur: { probability: 1, maxSigmaFraction: 0.1 } }, 32),
    );
    const [before, after] = await Promise.all(
      [images, out].map((x) =>
        arrayOf<number[]>(() => {
          const m = tf.moments(x);
          return tf.stack([m.mean, m.variance]);
        }),
      ),
    );
    expect(after![0]!).toBeCloseTo(before![0]!, 2);
    expect(after![1]!).toBeLessThan(before![1]! / 2);
    tf.dispose([images, out]);
  });

  it('repeats the same views from the same seed and differs for another seed', async () => {
    const images = texturedImages(4, 48);
    const options = simclrAugmentations(32);
    const a = augmentBatch(images, Rng.derive(7, 0), options);
    const b = augmentBatch(images, Rng.derive(7, 0), options);
    const c = augmentBatch(images, Rng.derive(7, 1), options);
    expect(a.shape).toEqual([4, 32, 32, 3]);
    expect(await largestDifference(a, b)).toBe(0);
    expect(await largestDifference(a, c)).toBeGreaterThan(0.1);
    const [min, max] = [await scalarOf(() => tf.min(a)), await scalarOf(() => tf.max(a))];
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThanOrEqual(1);
    tf.dispose([images, a, b, c]);
  });

  it('leaks no tensors', () => {
    const images = texturedImages(4, 48);
    const start = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) augmentBatch(images, new Rng(i), simclrAugmentations(32)).dispose();
    expect(tf.memory().numTensors).toBe(start);
    images.dispose();
  });
});

describe('cutPaste', () => {
  it('pastes a copied rectangle into the chosen images and leaves the others alone', async () => {
    const images = texturedImages(16, 32);
    const start = tf.memory().numTensors;
    const { images: out, pasted } = cutPaste(images, new Rng(4));
    expect(tf.memory().numTensors).toBe(start + 1);
    expect(pasted.some(Boolean)).toBe(true);
    expect(pasted.some((p) => !p)).toBe(true);
    const changed = await arrayOf<number[][][]>(() =>
      tf.cast(tf.greater(tf.max(tf.abs(tf.sub(out, images)), -1), 1e-6), 'float32'),
    );
    pasted.forEach((wasPasted, b) => {
      const rows = changed[b]!.map((row) => row.reduce((s, v) => s + v, 0));
      const total = rows.reduce((s, v) => s + v, 0);
      if (!wasPasted) {
        expect(total).toBe(0);
        return;
      }
      // Changed pixels lie in one rectangle: every touched row has the same extent.
      const touched = rows.filter((r) => r > 0);
      expect(total).toBeGreaterThan(0);
      expect(total).toBeLessThan(0.2 * 32 * 32);
      expect(Math.max(...touched) - Math.min(...touched)).toBeLessThanOrEqual(Math.max(...touched));
    });
    tf.dispose([images, out]);
  });
});
