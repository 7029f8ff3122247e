// Memory planning: a step's footprint measured at two small batches predicts larger ones, a
// batch that would not fit is split (inference) or refused with the batch that fits (training)
// before anything big is allocated, and the probes leave the network exactly as they found it.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src-main/engine/backend.js';
import { createResnetEncoder } from '../../../src-main/engine/encoders/resnet.js';
import { classifierConfig, trainClassifier } from '../../../src-main/engine/heads/classifier.js';
import {
  checkTrainingBatch,
  footprintAt,
  imagesPerPass,
  largestBatch,
  measureStep,
  memoryLimits,
  type MemoryLimits,
  type StepFootprint,
} from '../../../src-main/engine/memory-plan.js';
import { takeScalar } from '../../../src-main/engine/readback.js';
import { simclrConfig, trainSimclr } from '../../../src-main/engine/ssl/simclr.js';
import { MemoryLimitError } from '../../../src-main/shared/errors.js';

beforeAll(async () => {
  await initBackend(process.env.DEFECTSCOPE_BACKEND ?? 'wasm');
});

const GiB = 1024 ** 3;

function smallResnet(seed = 3) {
  return createResnetEncoder({
    inputSize: 32,
    widths: [8, 8, 16, 16, 32],
    depths: [1, 1, 1, 1],
    embeddingSize: 16,
    seed,
  });
}

/** The largest absolute difference between two lists of tensors of the same shapes. */
async function largestChange(a: tf.Tensor[], b: tf.Tensor[]): Promise<number> {
  const each = a.map((t, i) => takeScalar(tf.tidy(() => tf.max(tf.abs(tf.sub(t, b[i]!))))));
  return Math.max(...(await Promise.all(each)));
}

/** Thousands of paths that are never read: the plan refuses before the first decode. */
const neverRead = (count: number) => Array.from({ length: count }, (_, i) => `/nowhere/${i}.png`);

describe('memory planning', () => {
  it('finds the largest batch from per-kernel lines, and 0 when one image is too much', () => {
    // Kernel 1: 1 GiB of weights and 0.25 GiB per image; kernel 2: its output is the largest
    // tensor, 0.1 GiB per image.
    const footprint: StepFootprint = {
      alive: [
        { fixed: GiB, perImage: GiB / 4 },
        { fixed: GiB / 2, perImage: GiB / 8 },
      ],
      largest: [
        { fixed: 0, perImage: GiB / 20 },
        { fixed: 0, perImage: GiB / 10 },
      ],
      inputs: [
        { fixed: 0, perImage: GiB / 10 },
        { fixed: 0, perImage: GiB / 20 },
      ],
    };
    const heap: MemoryLimits = {
      backend: 'test',
      totalBytes: 3 * GiB,
      scratchFactor: 0,
      description: 'a test heap',
    };
    // (3 − 1) / 0.25 = 8 images; with 1 GiB already taken, (2 − 1) / 0.25 = 4.
    expect(largestBatch(footprint, heap, 0)).toBe(8);
    expect(largestBatch(footprint, heap, GiB)).toBe(4);
    // Scratch twice the kernel's inputs: 1 + b × (0.25 + 2 × 0.1) ≤ 3 → 4 images.
    expect(largestBatch(footprint, { ...heap, scratchFactor: 2 }, 0)).toBe(4);
    // A GPU that binds at most 0.5 GiB per tensor: 0.1 × 5 = 0.5 → 5 images; no total known.
    const gpu: MemoryLimits = { ...heap, totalBytes: undefined, tensorBytes: GiB / 2 };
    expect(largestBatch(footprint, gpu, 0)).toBe(5);
    expect(largestBatch(footprint, { ...gpu, tensorBytes: GiB / 20 }, 0)).toBe(0);
    expect(largestBatch(footprint, { ...gpu, tensorBytes: undefined }, 0)).toBe(Infinity);
    expect(footprintAt(footprint, 4, heap)).toEqual({
      peakBytes: 2 * GiB,
      largestTensorBytes: 0.4 * GiB,
    });
  });

  it('predicts a larger training step from two small probes', async () => {
    const encoder = smallResnet();
    const variables = encoder.trainableVariables();
    const step = (batch: number) =>
      tf.tidy(() => {
        const images = tf.randomUniform([batch, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
        const { value, grads } = tf.variableGrads(
          () => tf.mean(tf.square(encoder.encode(images, { training: true }).embedding)),
          variables,
        );
        tf.dispose([value, ...Object.values(grads)]);
      });
    const before = tf.memory().numTensors;
    const footprint = measureStep(step, 2, 3);
    expect(tf.memory().numTensors).toBe(before);
    const measured = await tf.profile(() => step(8));
    const start = tf.memory().numBytes;
    const predicted = footprintAt(footprint, 8, { scratchFactor: 0 });
    expect(predicted.peakBytes).toBeGreaterThan(0);
    // Every tensor of the step grows linearly with the batch, kernel by kernel.
    expect(predicted.peakBytes / (measured.peakBytes - start)).toBeCloseTo(1, 2);
    encoder.dispose();
  });

  it('splits an inference pass that would not fit, without allocating it', () => {
    const encoder = smallResnet();
    const before = tf.memory().numTensors;
    // Like the engine's steps, it returns a tensor: the plan frees it with the rest.
    const step = (batch: number) => encoder.encode(tf.zeros([batch, 64, 64, 3])).embedding;
    const limits = memoryLimits();
    // A million 64 px images at once would take tens of GB: far more than any backend here.
    const count = 1_000_000;
    const perPass = imagesPerPass({ owner: encoder, key: 'test 64', count, step, what: 'x' });
    expect(tf.memory().numTensors).toBe(before);
    expect(perPass).toBeGreaterThan(2);
    expect(perPass).toBeLessThan(count);
    const footprint = measureStep((batch) => tf.tidy(() => void step(batch)));
    if (limits.totalBytes !== undefined) {
      const room = limits.totalBytes - tf.memory().numBytes;
      expect(footprintAt(footprint, perPass, limits).peakBytes).toBeLessThanOrEqual(room);
      expect(footprintAt(footprint, perPass + 1, limits).peakBytes).toBeGreaterThan(room);
    }
    // A CPU backend keeps its passes at the cap it asks for; a GPU takes what fits.
    const capped = imagesPerPass({
      owner: encoder,
      key: 'test 64',
      count,
      step,
      cpuCap: 16,
      what: 'x',
    });
    expect(capped).toBe(tf.getBackend() === 'webgpu' ? perPass : 16);
    encoder.dispose();
  });

  it('refuses a SimCLR batch that would not fit, naming one that does, before decoding', async () => {
    const encoder = smallResnet();
    const weights = encoder.model.getWeights().map((w) => tf.clone(w));
    const before = tf.memory().numTensors;
    const run = trainSimclr({
      encoder,
      config: simclrConfig(neverRead(400_000), {
        inputSize: 32,
        decodeSize: 40,
        batchSize: 400_000,
        projectionHidden: 16,
        projectionSize: 8,
      }),
    });
    await expect(run).rejects.toBeInstanceOf(MemoryLimitError);
    const error = (await run.catch((e: unknown) => e)) as MemoryLimitError;
    expect(error.code).toBe('memory');
    expect(error.batchSize).toBe(400_000);
    expect(error.fits).toBeGreaterThanOrEqual(2);
    expect(error.fits).toBeLessThan(400_000);
    expect(error.message).toMatch(
      new RegExp(
        `^A SimCLR step of 400000 images \\(800000 views\\) at 32 px \\(resnet encoder\\) needs .*` +
          `A batch of ${error.fits} fits: use a batch size of ${error.fits} or less`,
      ),
    );
    expect(tf.memory().numTensors).toBe(before);
    // The probes took gradients but changed nothing: weights and batch-norm statistics.
    expect(await largestChange(encoder.model.getWeights(), weights)).toBe(0);
    tf.dispose(weights);
    encoder.dispose();
  });

  it('refuses a fine-tuning batch that would not fit', async () => {
    const encoder = smallResnet();
    const before = tf.memory().numTensors;
    const train = neverRead(300_000).map((path, i) => ({ path, defect: i % 2 === 0 }));
    const run = trainClassifier({
      encoder,
      config: classifierConfig(train, train.slice(0, 2), {
        inputSize: 32,
        batchSize: 300_000,
        fineTuneEncoder: true,
      }),
    });
    await expect(run).rejects.toThrow(
      /^A fine-tuning step of 300000 images at 32 px \(resnet encoder\) needs .* A batch of \d+ fits/,
    );
    expect(tf.memory().numTensors).toBe(before);
    encoder.dispose();
  });

  it('lets a batch that fits through without touching the network', async () => {
    const encoder = smallResnet();
    const variables = encoder.trainableVariables();
    const stats = encoder.model.getWeights().map((w) => tf.clone(w));
    const before = tf.memory().numTensors;
    expect(() =>
      checkTrainingBatch({
        owner: encoder,
        key: 'fits',
        batchSize: 8,
        loss: (batch) =>
          tf.mean(
            tf.square(encoder.encode(tf.ones([batch, 32, 32, 3]), { training: true }).embedding),
          ),
        variables,
        optimizerBytes: 0,
        what: 'a test step',
        smallest: 2,
      }),
    ).not.toThrow();
    expect(tf.memory().numTensors).toBe(before);
    expect(await largestChange(encoder.model.getWeights(), stats)).toBe(0);
    tf.dispose(stats);
    encoder.dispose();
  });
});
