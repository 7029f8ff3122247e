// The ResNet encoder: shapes at each stride, a save/load round trip, and no leaked tensors.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src-main/engine/backend.js';
import {
  FusedBatchNorm,
  createResnetEncoder,
  defaultResnetConfig,
  loadResnetEncoder,
  resnetForwardGflop,
} from '../../../src-main/engine/encoders/resnet.js';
import { largestDifference, relativeError } from '../../fixtures/numeric.js';

let dir: string;

beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'defectscope-resnet-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function randomImages(batch: number, size: number): tf.Tensor4D {
  return tf.randomUniform([batch, size, size, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
}

describe('ResNet encoder', () => {
  it('gives feature maps at strides 4, 8 and 16 and a 128-d embedding', () => {
    const encoder = createResnetEncoder({ inputSize: 64, seed: 1 });
    const images = randomImages(2, 64);
    const out = encoder.encode(images);
    expect(out.features.stride4!.shape).toEqual([2, 16, 16, 32]);
    expect(out.features.stride8.shape).toEqual([2, 8, 8, 64]);
    expect(out.features.stride16.shape).toEqual([2, 4, 4, 128]);
    expect(out.embedding.shape).toEqual([2, 128]);
    expect(encoder.info).toMatchObject({ kind: 'resnet', inputSize: 64, embeddingSize: 128 });
    tf.dispose([images, out.embedding, ...Object.values(out.features)]);
    encoder.dispose();
  });

  it('matches the reference network size: 1.26 M parameters, 0.133 GFLOP at 64 px with a stride-1 stem', () => {
    const encoder = createResnetEncoder({ inputSize: 64, stemStride: 1 });
    expect(encoder.model.countParams()).toBeGreaterThan(1.25e6);
    expect(encoder.model.countParams()).toBeLessThan(1.27e6);
    expect(resnetForwardGflop(encoder.config, 64)).toBeCloseTo(0.133, 3);
    expect(resnetForwardGflop(defaultResnetConfig, 64)).toBeCloseTo(0.133 / 4, 2);
    encoder.dispose();
  });

  it('infers with batch norms folded into the convolutions exactly as the layers model does', async () => {
    // Depth 2 in a stage checks blocks without a projection; non-trivial moving statistics and
    // γ/β check the folding itself.
    const encoder = createResnetEncoder({
      inputSize: 64,
      widths: [8, 8, 16, 16, 24],
      depths: [1, 2, 1, 1],
      stemStride: 1,
      seed: 5,
    });
    const start = tf.memory().numTensors;
    encoder.model.layers
      .filter((layer) => layer instanceof FusedBatchNorm)
      .forEach((layer, i) => {
        const c = layer.getWeights()[0]!.shape[0]!;
        const values = tf.tidy(() => [
          tf.randomUniform([c], 0.5, 1.5, 'float32', 4 * i),
          tf.randomNormal([c], 0, 0.5, 'float32', 4 * i + 1),
          tf.randomNormal([c], 0, 0.5, 'float32', 4 * i + 2),
          tf.randomUniform([c], 0.2, 2, 'float32', 4 * i + 3),
        ]);
        layer.setWeights(values);
        tf.dispose(values);
      });
    const images = randomImages(3, 64);
    const folded = encoder.encode(images);
    const reference = encoder.model.apply(images, { training: false }) as tf.Tensor[];
    const ours = [
      folded.features.stride4!,
      folded.features.stride8,
      folded.features.stride16,
      folded.embedding,
    ];
    for (const [i, t] of ours.entries()) {
      expect(t.shape).toEqual(reference[i]!.shape);
      expect(relativeError(await t.data(), await reference[i]!.data()), `output ${i}`).toBeLessThan(
        1e-5,
      );
    }
    tf.dispose([images, ...ours, ...reference]);
    expect(tf.memory().numTensors).toBe(start);
    encoder.dispose();
  });

  it('reloads from disk and gives the same embeddings', async () => {
    const encoder = createResnetEncoder({
      inputSize: 64,
      widths: [16, 16, 32, 48, 64],
      depths: [1, 2, 1, 1],
      seed: 3,
    });
    const images = randomImages(3, 64);
    // A training-mode pass first, so the saved batch-norm moving statistics are not the defaults.
    const trainOut = encoder.encode(images, { training: true });
    tf.dispose([trainOut.embedding, ...Object.values(trainOut.features)]);
    const before = encoder.encode(images);
    await encoder.save(join(dir, 'enc'));
    const reloaded = await loadResnetEncoder(join(dir, 'enc'));
    const after = reloaded.encode(images);
    expect(reloaded.config).toEqual(encoder.config);
    expect(reloaded.info).toEqual(encoder.info);
    expect(await largestDifference(before.embedding, after.embedding)).toBeLessThan(1e-5);
    expect(await largestDifference(before.features.stride16, after.features.stride16)).toBeLessThan(
      1e-5,
    );
    tf.dispose([
      images,
      before.embedding,
      after.embedding,
      ...Object.values(before.features),
      ...Object.values(after.features),
    ]);
    encoder.dispose();
    reloaded.dispose();
  });

  it('leaks no tensors when encoding, and frees its weights on dispose', () => {
    const start = tf.memory().numTensors;
    const encoder = createResnetEncoder({ inputSize: 64, seed: 2 });
    const withModel = tf.memory().numTensors;
    expect(encoder.trainableVariables().length).toBeGreaterThan(0);
    const images = randomImages(2, 64);
    for (const training of [false, true]) {
      const out = encoder.encode(images, { training });
      tf.dispose([out.embedding, ...Object.values(out.features)]);
      expect(tf.memory().numTensors).toBe(withModel + 1);
    }
    images.dispose();
    encoder.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it('refuses an input that is not an RGB batch', () => {
    const encoder = createResnetEncoder({ inputSize: 64 });
    const gray = tf.zeros([1, 64, 64, 1]) as tf.Tensor4D;
    expect(() => encoder.encode(gray)).toThrow(/\[batch, height, width, 3\]/);
    gray.dispose();
    encoder.dispose();
  });

  it('normalises like tfjs-layers BatchNormalization: outputs, gradients, moving statistics', async () => {
    const start = tf.memory().numTensors;
    // A mean well away from 0 checks the closed-form gradient for cancellation.
    const x = tf.tidy(() =>
      tf.add(tf.mul(tf.randomNormal([3, 5, 4, 6], 0, 1, 'float32', 11), 2), 3),
    ) as tf.Tensor4D;
    const dy = tf.randomNormal([3, 5, 4, 6], 0, 1, 'float32', 12) as tf.Tensor4D;
    const ours = new FusedBatchNorm({ momentum: 0.9, name: 'ours' });
    const keras = tf.layers.batchNormalization({ axis: -1, momentum: 0.9, name: 'keras' });
    const results = [ours, keras].map((layer) =>
      tf.tidy(() => {
        layer.apply(x); // builds the weights
        const [gamma, beta] = layer.trainableWeights.map((w) => w.read() as tf.Variable);
        gamma!.assign(tf.linspace(0.5, 1.5, 6));
        beta!.assign(tf.linspace(-1, 1, 6));
        const input = tf.variable(x);
        const { value, grads } = tf.variableGrads(
          () =>
            tf.sum(tf.mul(layer.apply(input, { training: true }) as tf.Tensor, dy)) as tf.Scalar,
          [input, gamma!, beta!],
        );
        input.dispose();
        const inference = layer.apply(x) as tf.Tensor;
        return [
          value,
          ...Object.values(grads),
          inference,
          ...layer.nonTrainableWeights.map((w) => w.read().clone()),
        ];
      }),
    );
    const [a, b] = results as [tf.Tensor[], tf.Tensor[]];
    for (const [i, t] of a.entries()) {
      expect(relativeError(await t.data(), await b[i]!.data()), `output ${i}`).toBeLessThan(1e-4);
    }
    tf.dispose([x, dy, ...a, ...b]);
    ours.dispose();
    keras.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });
});
