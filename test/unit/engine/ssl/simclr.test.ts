// SimCLR pretraining: the NT-Xent loss against a hand computation, the loss falling on tiny
// images, cancelling, and a checkpoint that resumes to the weights an uninterrupted run reaches.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noAugmentation } from '../../../../src-main/engine/augment.js';
import { initBackend } from '../../../../src-main/engine/backend.js';
import {
  createResnetEncoder,
  loadResnetEncoder,
  type ResnetEncoder,
} from '../../../../src-main/engine/encoders/resnet.js';
import {
  ntXentLoss,
  readSimclrCheckpoint,
  simclrConfig,
  trainSimclr,
  type SimclrConfig,
} from '../../../../src-main/engine/ssl/simclr.js';
import { takeScalar } from '../../../../src-main/engine/readback.js';
import { CancelledError, type ImageError } from '../../../../src-main/shared/errors.js';

let dir: string;
let images: string[];

/** Eight 40 px product-like textures, each a different stripe pattern and tint. */
async function writeTextures(folder: string): Promise<string[]> {
  const side = 40;
  const paths: string[] = [];
  for (let i = 0; i < 8; i++) {
    const pixels = Buffer.alloc(side * side * 3);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const v = Math.sin((x * (i + 1)) / 5) * Math.cos((y * (8 - i)) / 6);
        const o = (y * side + x) * 3;
        pixels[o] = 128 + 120 * v;
        pixels[o + 1] = 30 * i;
        pixels[o + 2] = 255 - 30 * i;
      }
    }
    const path = join(folder, `part-${i}.png`);
    await sharp(pixels, { raw: { width: side, height: side, channels: 3 } })
      .png()
      .toFile(path);
    paths.push(path);
  }
  return paths;
}

function tinyEncoder(): ResnetEncoder {
  return createResnetEncoder({
    inputSize: 32,
    widths: [8, 8, 8, 16, 16],
    depths: [1, 1, 1, 1],
    embeddingSize: 16,
    seed: 11,
  });
}

function tinyConfig(overrides: Partial<SimclrConfig> = {}): SimclrConfig {
  return simclrConfig(images, {
    inputSize: 32,
    decodeSize: 40,
    batchSize: 4,
    epochs: 2,
    projectionHidden: 16,
    projectionSize: 8,
    learningRate: 3e-3,
    seed: 5,
    ...overrides,
  });
}

function weightsOf(encoder: ResnetEncoder): Promise<Float32Array[]> {
  return Promise.all(encoder.model.getWeights().map((w) => w.data() as Promise<Float32Array>));
}

beforeAll(async () => {
  // wasm, with the engine's training kernels, is what a factory PC trains on;
  // DEFECTSCOPE_BACKEND=cpu runs the same checks on tfjs's reference kernels.
  await initBackend(process.env.DEFECTSCOPE_BACKEND ?? 'wasm');
  dir = mkdtempSync(join(tmpdir(), 'defectscope-simclr-'));
  images = await writeTextures(dir);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('NT-Xent loss', () => {
  it('matches a hand computation on two pairs', async () => {
    // Views: a1 = (1, 0), b1 = (0, 1); their partners a2 = (1, 1)/√2, b2 = (1, −1)/√2.
    const tau = 0.5;
    const views = [
      [1, 0],
      [0, 1],
      [Math.SQRT1_2, Math.SQRT1_2],
      [Math.SQRT1_2, -Math.SQRT1_2],
    ];
    const cos = (a: number[], b: number[]) => a[0]! * b[0]! + a[1]! * b[1]!;
    let expected = 0;
    for (let i = 0; i < 4; i++) {
      const partner = (i + 2) % 4;
      let denominator = 0;
      for (let k = 0; k < 4; k++)
        if (k !== i) denominator += Math.exp(cos(views[i]!, views[k]!) / tau);
      expected -= Math.log(Math.exp(cos(views[i]!, views[partner]!) / tau) / denominator);
    }
    expected /= 4;
    const z1 = tf.tensor2d([
      [1, 0],
      [0, 1],
    ]);
    const z2 = tf.tensor2d([
      [1, 1],
      [1, -1],
    ]);
    const before = tf.memory().numTensors;
    const loss = ntXentLoss(z1, z2, tau);
    expect((await loss.data())[0]!).toBeCloseTo(expected, 5);
    // By hand: a1 and a2 lose log(1 + 2e^√2) − √2 = 0.808 each, b1 and b2 log(1 + e^√2 +
    // e^−√2) + √2 = 3.092 each (their partners point away); the mean is 1.950.
    expect(expected).toBeCloseTo(1.9502, 3);
    loss.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([z1, z2]);
  });

  it('stays finite for huge projections and a tiny temperature', async () => {
    const z1 = tf.tensor2d([
      [1e6, 2e6, -3e6],
      [4e-6, 0, 1e-6],
    ]);
    const z2 = tf.tensor2d([
      [1e6, 2e6, -2.9e6],
      [0, 5e-6, 0],
    ]);
    expect(Number.isFinite(await takeScalar(ntXentLoss(z1, z2, 0.01)))).toBe(true);
    tf.dispose([z1, z2]);
  });
});

describe('SimCLR training', () => {
  it('lowers the loss on tiny images, skips an unreadable file, and leaks nothing', async () => {
    const broken = join(dir, 'half-written.png');
    writeFileSync(broken, Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]));
    const encoder = tinyEncoder();
    const before = tf.memory().numTensors;
    const errors: ImageError[] = [];
    const progress: number[][] = [];
    const result = await trainSimclr({
      encoder,
      // Mild views (crops and flips only) so eight steps are enough to see learning; the full
      // recipe runs in the other tests.
      config: tinyConfig({
        images: [...images, broken],
        batchSize: 9,
        epochs: 8,
        augment: {
          ...noAugmentation(32),
          crop: { minArea: 0.5, maxArea: 1, minAspect: 0.8, maxAspect: 1.25 },
          flipHorizontal: 0.5,
          flipVertical: 0.5,
        },
      }),
      onImageError: (error) => errors.push(error),
      onProgress: (...args) => progress.push(args),
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(result.steps).toBe(8);
    expect(progress.map((p) => p[0])).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(progress.every((p) => p[1] === 8 && p[3]! > 0)).toBe(true);
    expect(progress.at(-1)![4]).toBe(0);
    expect(errors.map((e) => e.path)).toEqual([broken]);
    const losses = result.losses as number[];
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean(losses.slice(-3))).toBeLessThan(mean(losses.slice(0, 3)) - 0.2);
    encoder.dispose();
  });

  it('stops when cancelled and leaves a checkpoint', async () => {
    const encoder = tinyEncoder();
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    const checkpointDir = join(dir, 'cancelled.checkpoint');
    const run = trainSimclr({
      encoder,
      config: tinyConfig({ cutPasteWeight: 0.5 }),
      checkpointDir,
      signal: controller.signal,
      onProgress: (step) => {
        if (step === 1) controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    await expect(run).rejects.toThrow(/step 1 of 4/);
    expect(tf.memory().numTensors).toBe(before);
    const checkpoint = await readSimclrCheckpoint(checkpointDir);
    expect(checkpoint.step).toBe(1);
    expect(checkpoint.losses).toHaveLength(1);
    encoder.dispose();
  });

  it('resumes from a checkpoint to the weights an uninterrupted run reaches', async () => {
    const straight = tinyEncoder();
    const whole = await trainSimclr({ encoder: straight, config: tinyConfig() });

    const interrupted = tinyEncoder();
    const controller = new AbortController();
    const checkpointDir = join(dir, 'resume.checkpoint');
    await expect(
      trainSimclr({
        encoder: interrupted,
        config: tinyConfig(),
        checkpointDir,
        signal: controller.signal,
        onProgress: (step) => {
          if (step === 2) controller.abort();
        },
      }),
    ).rejects.toBeInstanceOf(CancelledError);
    interrupted.dispose();

    const checkpoint = await readSimclrCheckpoint(checkpointDir);
    const resumedEncoder = await loadResnetEncoder(checkpoint.encoderDir);
    const before = tf.memory().numTensors;
    const steps: number[] = [];
    const resumed = await trainSimclr({
      encoder: resumedEncoder,
      config: tinyConfig({ epochs: 99 }), // ignored: a resumed run keeps its own config
      resume: checkpoint,
      onProgress: (step) => steps.push(step),
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(steps).toEqual([3, 4]);
    expect(resumed.steps).toBe(4);
    expect(resumed.losses.slice(0, 2)).toEqual(whole.losses.slice(0, 2));
    expect(resumed.losses[3]).toBeCloseTo(whole.losses[3]!, 4);
    // Not bit-identical: tfjs's Adam keeps β^t as a running float32 product, but recomputes it
    // with pow() when its state is restored, so the bias correction differs in the last bits.
    const a = await weightsOf(straight);
    const b = await weightsOf(resumedEncoder);
    let largest = 0;
    a.forEach((w, i) =>
      w.forEach((v, j) => (largest = Math.max(largest, Math.abs(v - b[i]![j]!)))),
    );
    expect(largest).toBeLessThan(1e-5);
    straight.dispose();
    resumedEncoder.dispose();
  });
});
