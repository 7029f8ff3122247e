// The engine on WebGPU against the cpu backend: the default encoder's forward pass and one SimCLR
// step give the same numbers. It runs wherever Dawn finds an adapter; on CI that is Mesa's
// llvmpipe (mesa-vulkan-drivers from bookworm-backports, .ci/run), a GPU emulated on the CPU,
// so the images are few and small. Without an adapter the tests report themselves skipped, with
// Dawn's reason, in their names and on the console.
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, withBackend } from '../../../src-main/engine/backend.js';
import type { Encoder, EncoderOutput } from '../../../src-main/engine/encoders/encoder.js';
import { createEncoder } from '../../../src-main/engine/encoders/registry.js';
import { simclrConfig, trainSimclr } from '../../../src-main/engine/ssl/simclr.js';
import { findGpuAdapter } from '../../../src-main/engine/webgpu.js';
import { errorMessage } from '../../../src-main/shared/errors.js';
import { tempDir } from '../../fixtures/images.js';
import { relativeError } from '../../fixtures/numeric.js';

const found = await findGpuAdapter().then(
  (adapter) => ({ adapter, reason: '' }),
  (error: unknown) => ({ adapter: undefined, reason: errorMessage(error) }),
);
const skipped = found.adapter ? '' : ` — skipped: ${found.reason}`;
if (skipped) console.log(`webgpu tests skipped: ${found.reason}`);

const SIZE = 64;

/** Two 64 px images with structure at every scale: stripes, a tint, a dark blot. */
function pixels(): Float32Array {
  const values = new Float32Array(2 * SIZE * SIZE * 3);
  for (let b = 0; b < 2; b++) {
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const o = ((b * SIZE + y) * SIZE + x) * 3;
        const stripe = 0.5 + 0.4 * Math.sin((x * (b + 2)) / 4) * Math.cos(y / 5);
        const blot = (x - 40) ** 2 + (y - 20) ** 2 < 36 ? 0.3 : 1;
        values[o] = stripe * blot;
        values[o + 1] = (0.2 + 0.3 * b) * blot;
        values[o + 2] = (1 - stripe) * blot;
      }
    }
  }
  return values;
}

/** Every output of an encoder pass, read back, in a fixed order. */
async function outputsOf(encoder: Encoder): Promise<Record<string, Float32Array>> {
  const before = tf.memory().numTensors;
  const images = tf.tensor4d(pixels(), [2, SIZE, SIZE, 3]);
  const output: EncoderOutput = encoder.encode(images);
  const named = { ...output.features, embedding: output.embedding };
  const values: Record<string, Float32Array> = {};
  for (const [name, tensor] of Object.entries(named)) {
    values[name] = (await tensor!.data()) as Float32Array;
  }
  tf.dispose([images, ...Object.values(named)]);
  expect(tf.memory().numTensors).toBe(before);
  return values;
}

async function writeImages(): Promise<string[]> {
  const dir = tempDir('defectscope-webgpu-');
  const all = pixels();
  const paths: string[] = [];
  for (let b = 0; b < 2; b++) {
    const rgb = Buffer.alloc(SIZE * SIZE * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = Math.round(255 * all[b * rgb.length + i]!);
    const path = join(dir, `part-${b}.png`);
    await sharp(rgb, { raw: { width: SIZE, height: SIZE, channels: 3 } })
      .png()
      .toFile(path);
    paths.push(path);
  }
  return paths;
}

/** One SimCLR step on the two images: its loss and how far it moved each encoder weight. */
async function simclrStep(
  images: string[],
): Promise<{ loss: number; updates: Float32Array[]; backend: string }> {
  const encoder = await createEncoder('mobilenetv3-trainable', { inputSize: SIZE });
  try {
    const before = await Promise.all(encoder.trainableVariables().map((v) => v.data()));
    const tensors = tf.memory().numTensors;
    const result = await trainSimclr({
      encoder,
      config: simclrConfig(images, { inputSize: SIZE, batchSize: 2, epochs: 1, seed: 3 }),
    });
    expect(tf.memory().numTensors).toBe(tensors);
    const after = await Promise.all(encoder.trainableVariables().map((v) => v.data()));
    const updates = after.map((a, i) =>
      (a as Float32Array).map((value, j) => value - before[i]![j]!),
    );
    return { loss: result.losses[0]!, updates, backend: tf.getBackend() };
  } finally {
    encoder.dispose();
  }
}

describe.skipIf(!found.adapter)(`the engine on WebGPU${skipped}`, () => {
  beforeAll(async () => {
    // Forced: on CI the adapter is llvmpipe, which the automatic choice rightly skips.
    const report = await initBackend('webgpu');
    expect(report.name).toBe('webgpu');
  });

  it(`gives the default encoder's feature maps and embedding as cpu does (2 images, ${SIZE} px)`, async () => {
    // The cpu reference first: weights move from cpu to the GPU, never back.
    const encoder = await withBackend('cpu', () =>
      createEncoder('mobilenetv3', { inputSize: SIZE }),
    );
    const cpu = await withBackend('cpu', () => outputsOf(encoder));
    const gpu = await outputsOf(encoder);
    encoder.dispose();
    expect(tf.getBackend()).toBe('webgpu');
    expect(Object.keys(gpu).sort()).toEqual([
      'embedding',
      'stride16',
      'stride16mid',
      'stride4',
      'stride8',
    ]);
    for (const [name, values] of Object.entries(gpu)) {
      // float32 through ~40 layers summed in another order: 1e-5 of the map's scale (measured
      // 5e-7 to 1.5e-6 on llvmpipe); a wrong kernel is off by its whole scale.
      expect(relativeError(values, cpu[name]!), name).toBeLessThan(1e-5);
    }
  });

  it('trains one SimCLR step of the trainable MobileNetV3 as cpu does', async () => {
    const images = await writeImages();
    const cpu = await withBackend('cpu', () => simclrStep(images));
    const gpu = await simclrStep(images);
    expect([cpu.backend, gpu.backend]).toEqual(['cpu', 'webgpu']);
    // Measured on llvmpipe: the loss within 2e-7 of cpu's, the update within 1.3e-4.
    expect(Math.abs(gpu.loss - cpu.loss) / Math.abs(cpu.loss)).toBeLessThan(1e-5);
    // Adam's first step moves each weight by about ±learning rate whatever the gradient's size,
    // so a weight whose gradient is ~0 may move the other way on the other backend: compare the
    // whole update, not weight by weight.
    const gpuUpdate = gpu.updates.flatMap((u) => Array.from(u));
    const cpuUpdate = cpu.updates.flatMap((u) => Array.from(u));
    const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    const difference = norm(gpuUpdate.map((x, i) => x - cpuUpdate[i]!)) / norm(cpuUpdate);
    expect(norm(cpuUpdate)).toBeGreaterThan(0);
    expect(difference).toBeLessThan(1e-3);
  });
});
