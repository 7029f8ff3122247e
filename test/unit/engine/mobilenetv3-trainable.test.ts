// The trainable MobileNetV3 reproduces the pretrained graph exactly (same weights, same feature
// maps), trains (gradients reach its weights), and survives save and load.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src-main/engine/backend.js';
import type { EncoderOutput } from '../../../src-main/engine/encoders/encoder.js';
import type { TappedModelEncoder } from '../../../src-main/engine/encoders/imported.js';
import { createMobilenetV3Encoder } from '../../../src-main/engine/encoders/mobilenetv3.js';
import {
  createTrainableMobilenetV3Encoder,
  type TrainableMobilenetV3Encoder,
} from '../../../src-main/engine/encoders/mobilenetv3-trainable.js';
import { loadEncoder } from '../../../src-main/engine/encoders/registry.js';
import { takeScalar } from '../../../src-main/engine/readback.js';
import { largestDifference, scalarOf } from '../../fixtures/numeric.js';

let graph: TappedModelEncoder;
let trainable: TrainableMobilenetV3Encoder;
let scratch: string;

beforeAll(async () => {
  // On wasm, training relies on the engine's own conv and depthwise filter-gradient kernels.
  await initBackend();
  graph = await createMobilenetV3Encoder();
  trainable = await createTrainableMobilenetV3Encoder();
  scratch = await mkdtemp(join(tmpdir(), 'defectscope-mnv3-'));
});

afterAll(async () => {
  graph.dispose();
  trainable.dispose();
  await rm(scratch, { recursive: true, force: true });
});

function disposeOutput(output: EncoderOutput): void {
  tf.dispose([...Object.values(output.features), output.embedding]);
}

function relativeError(reference: tf.Tensor, other: tf.Tensor): Promise<number> {
  return scalarOf(() => tf.div(tf.norm(tf.sub(reference, other)), tf.norm(reference)));
}

describe('trainable MobileNetV3', () => {
  it('computes the same feature maps as the pretrained graph it was copied from', async () => {
    // Every map but block 8's (stride16mid), which only zero-shot reads from the frozen graph: a
    // zero-shot on the trainable twin reads its last stride-16 block instead.
    const { stride16mid, ...channels } = graph.info.channels;
    expect(stride16mid).toBe(64);
    expect(trainable.info).toEqual({ ...graph.info, channels, kind: 'mobilenetv3-trainable' });
    for (const [size, seed] of [
      [64, 11],
      [96, 12],
    ] as const) {
      const images = tf.randomUniform([2, size, size, 3], 0, 1, 'float32', seed) as tf.Tensor4D;
      const before = tf.memory().numTensors;
      const expected = graph.encode(images);
      const actual = trainable.encode(images);
      for (const name of ['stride4', 'stride8', 'stride16'] as const) {
        expect(actual.features[name]!.shape).toEqual(expected.features[name]!.shape);
        expect(
          await relativeError(expected.features[name]!, actual.features[name]!),
          `${name} at ${size} px`,
        ).toBeLessThan(1e-3);
      }
      expect(await relativeError(expected.embedding, actual.embedding)).toBeLessThan(1e-3);
      disposeOutput(expected);
      disposeOutput(actual);
      expect(tf.memory().numTensors).toBe(before);
      images.dispose();
    }
  });

  it('gives maps at strides 4, 8 and 16 for 64, 128 and 224 px', () => {
    for (const size of [64, 128, 224]) {
      const images = tf.zeros([1, size, size, 3]) as tf.Tensor4D;
      const output = trainable.encode(images);
      expect(output.features.stride4!.shape).toEqual([1, size / 4, size / 4, 24]);
      expect(output.features.stride8.shape).toEqual([1, size / 8, size / 8, 32]);
      expect(output.features.stride16.shape).toEqual([1, size / 16, size / 16, 88]);
      expect(output.embedding.shape).toEqual([1, 88]);
      disposeOutput(output);
      images.dispose();
    }
  });

  it('learns: one optimiser step moves the weights, without leaking tensors', async () => {
    const images = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const variables = trainable.trainableVariables();
    expect(variables.length).toBe(92);
    const before = variables.map((v) => v.clone());
    const optimizer = tf.train.sgd(1e-3);
    const tensorsBefore = tf.memory().numTensors;
    const loss = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        const output = trainable.encode(images, { training: true });
        return tf.add(
          tf.mean(tf.square(output.embedding)),
          tf.mean(output.features.stride4!),
        ) as tf.Scalar;
      }, variables);
      optimizer.applyGradients(grads);
      return value;
    });
    expect(Number.isFinite(await takeScalar(loss))).toBe(true);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    const changes = await Promise.all(variables.map((v, i) => largestDifference(v, before[i]!)));
    const moved = variables.filter((_, i) => changes[i]! > 0);
    // A few squeeze-excite gates sit saturated (relu6 at 0 or 6) for a pretrained net, so their
    // weights get no gradient; everything else must move, the stem and the last block included.
    expect(moved.length).toBeGreaterThan(variables.length * 0.9);
    const names = moved.map((v) => v.name);
    expect(names.some((n) => n.startsWith('stem_conv'))).toBe(true);
    expect(names.some((n) => n.startsWith('expanded_conv_11_project'))).toBe(true);
    tf.dispose([images, ...before]);
    optimizer.dispose();
  });

  it('round-trips through save and load, to 1e-5', async () => {
    const dir = join(scratch, 'saved');
    await trainable.save(dir);
    const loaded = await loadEncoder(dir);
    const images = tf.randomUniform([2, 64, 64, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    const a = trainable.encode(images);
    const b = loaded.encode(images);
    const difference = Math.max(
      ...(await Promise.all(
        (['stride4', 'stride8', 'stride16'] as const).map((name) =>
          largestDifference(a.features[name]!, b.features[name]!),
        ),
      )),
    );
    expect(difference).toBeLessThan(1e-5);
    expect(loaded.trainableVariables()).toHaveLength(92);
    disposeOutput(a);
    disposeOutput(b);
    images.dispose();
    loaded.dispose();
  });
});
