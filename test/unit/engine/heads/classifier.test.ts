// The classifier head: learns an obviously separable good/defect set with the encoder frozen or
// fine-tuned, leaves a frozen encoder untouched, weighs the rare class up, and leaks nothing.
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../../../src-main/shared/random.js';
import { initBackend } from '../../../../src-main/engine/backend.js';
import {
  createResnetEncoder,
  type ResnetEncoder,
} from '../../../../src-main/engine/encoders/resnet.js';
import {
  classifierConfig,
  predictDefect,
  trainClassifier,
  type EpochMetrics,
  type LabeledImage,
} from '../../../../src-main/engine/heads/classifier.js';
import { CancelledError } from '../../../../src-main/shared/errors.js';

let dir: string;
let train: LabeledImage[];
let validation: LabeledImage[];

/** Grey noisy tiles; defective ones carry a bright scratch-like bar somewhere. */
async function writeTiles(folder: string, count: number, defect: boolean, seed: number) {
  const side = 32;
  const rng = new Rng(seed);
  const items: LabeledImage[] = [];
  for (let n = 0; n < count; n++) {
    const pixels = Buffer.alloc(side * side * 3);
    const x0 = rng.int(side - 20);
    const y0 = rng.int(side - 10);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const onBar = defect && x >= x0 && x < x0 + 20 && y >= y0 && y < y0 + 10;
        const v = onBar ? 250 : 70 + rng.int(40);
        pixels.fill(v, (y * side + x) * 3, (y * side + x) * 3 + 3);
      }
    }
    const path = join(folder, `${defect ? 'defect' : 'good'}-${seed}-${n}.png`);
    await sharp(pixels, { raw: { width: side, height: side, channels: 3 } })
      .png()
      .toFile(path);
    items.push({ path, defect });
  }
  return items;
}

function tinyEncoder(): ResnetEncoder {
  return createResnetEncoder({
    inputSize: 32,
    widths: [8, 8, 8, 16, 16],
    depths: [1, 1, 1, 1],
    embeddingSize: 16,
    seed: 3,
  });
}

async function allWeights(encoder: ResnetEncoder): Promise<number[]> {
  const values = await Promise.all(encoder.model.getWeights().map((w) => w.data()));
  return values.flatMap((v) => Array.from(v));
}

beforeAll(async () => {
  // wasm, with the engine's training kernels, is what a factory PC trains on;
  // DEFECTSCOPE_BACKEND=cpu runs the same checks on tfjs's reference kernels.
  await initBackend(process.env.DEFECTSCOPE_BACKEND ?? 'wasm');
  dir = mkdtempSync(join(tmpdir(), 'defectscope-classifier-'));
  // Two good for every defective one, like the seed's mostly-good data.
  train = [...(await writeTiles(dir, 24, false, 1)), ...(await writeTiles(dir, 12, true, 2))];
  validation = [...(await writeTiles(dir, 6, false, 3)), ...(await writeTiles(dir, 6, true, 4))];
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('classifier head', () => {
  it('learns an obvious defect on a frozen encoder and leaves the encoder unchanged', async () => {
    const encoder = tinyEncoder();
    const before = tf.memory().numTensors;
    const weightsBefore = await allWeights(encoder);
    const epochs: EpochMetrics[] = [];
    const phases = new Set<string>();
    const result = await trainClassifier({
      encoder,
      config: classifierConfig(train, validation, {
        inputSize: 32,
        batchSize: 8,
        epochs: 40,
        learningRate: 1e-2,
        hiddenUnits: [16, 8],
      }),
      onEpoch: (m) => epochs.push(m),
      onProgress: (_s, _t, _l, _ips, _eta, phase) => phases.add(phase),
    });
    expect(phases).toEqual(new Set(['embedding', 'training']));
    expect(result.classWeights.defect).toBeCloseTo(36 / 24, 6);
    expect(result.classWeights.good).toBeCloseTo(36 / 48, 6);
    expect(epochs).toHaveLength(40);
    const last = epochs.at(-1)!;
    expect(last.accuracy).toBeGreaterThanOrEqual(0.9);
    expect(last.balancedAccuracy).toBeGreaterThanOrEqual(0.9);
    expect(last.f1).toBeGreaterThanOrEqual(0.9);
    expect(last.auroc).toBeGreaterThanOrEqual(0.95);
    expect(last.trainLoss).toBeLessThan(epochs[0]!.trainLoss);
    expect(await allWeights(encoder)).toEqual(weightsBefore);

    // The returned head scores new images the same way.
    const images = tf.tidy(
      () =>
        tf.concat([tf.fill([1, 32, 32, 3], 0.35), tf.fill([1, 32, 32, 3], 0.98)]) as tf.Tensor4D,
    );
    const p = predictDefect(encoder, result.head, images);
    expect(p.shape).toEqual([2]);
    tf.dispose([images, p]);
    result.head.dispose();
    expect(tf.memory().numTensors).toBe(before);
    encoder.dispose();
  });

  it('fine-tunes the encoder with the head and improves within three epochs', async () => {
    const encoder = tinyEncoder();
    const before = tf.memory().numTensors;
    const weightsBefore = await allWeights(encoder);
    const result = await trainClassifier({
      encoder,
      config: classifierConfig(train, validation, {
        inputSize: 32,
        batchSize: 8,
        epochs: 3,
        learningRate: 3e-3,
        hiddenUnits: [16, 8],
        fineTuneEncoder: true,
      }),
    });
    expect(result.epochs).toHaveLength(3);
    const [first, , last] = result.epochs;
    expect(last!.validationLoss).toBeLessThan(first!.validationLoss);
    expect(last!.balancedAccuracy).toBeGreaterThan(first!.balancedAccuracy);
    expect(last!.balancedAccuracy).toBeGreaterThanOrEqual(0.8);
    expect(await allWeights(encoder)).not.toEqual(weightsBefore);
    result.head.dispose();
    expect(tf.memory().numTensors).toBe(before);
    encoder.dispose();
  });

  it('stops when cancelled and frees what it made', async () => {
    const encoder = tinyEncoder();
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    await expect(
      trainClassifier({
        encoder,
        config: classifierConfig(train, validation, { inputSize: 32, batchSize: 8, epochs: 5 }),
        signal: controller.signal,
        onProgress: (step) => step === 2 && controller.abort(),
      }),
    ).rejects.toBeInstanceOf(CancelledError);
    expect(tf.memory().numTensors).toBe(before);
    encoder.dispose();
  });

  it('refuses training data without both classes', async () => {
    const encoder = tinyEncoder();
    const goodOnly = train.filter((i) => !i.defect);
    await expect(
      trainClassifier({ encoder, config: classifierConfig(goodOnly, validation) }),
    ).rejects.toThrow(/good and defective training images/);
    encoder.dispose();
  });
});
