// Our wasm kernels against the cpu backend's on random inputs, and whole training steps on wasm:
// gradients equal to cpu's, the loss going down, and no tensors left behind.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { SimclrWorkload } from '../../../bench/workloads.js';
import { withBackend } from '../../../src-main/engine/backend.js';
import { createResnetEncoder } from '../../../src-main/engine/encoders/resnet.js';
import { ntXentLoss } from '../../../src-main/engine/ssl/simclr.js';
import { wasmThreading } from '../../../src-main/engine/wasm.js';
import { fasterKernels, missingKernels } from '../../../src-main/engine/wasm-kernels/index.js';
import { relativeError } from '../../fixtures/numeric.js';

interface InputSpec {
  shape: number[];
  dtype?: 'float32' | 'int32';
  /** Explicit values; random normal (or ints below `maxInt`) otherwise. */
  values?: number[];
  maxInt?: number;
}

let seed = 1;
function random(): number {
  // Small LCG: inputs are reproducible without depending on TF.js' own generators.
  seed = (seed * 1664525 + 1013904223) % 4294967296;
  return seed / 4294967296;
}

function materialise(spec: InputSpec): Float32Array | Int32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.values)
    return spec.dtype === 'int32' ? Int32Array.from(spec.values) : Float32Array.from(spec.values);
  if (spec.dtype === 'int32')
    return Int32Array.from({ length: n }, () => Math.floor(random() * (spec.maxInt ?? 10)));
  return Float32Array.from({ length: n }, () => random() * 2 - 1);
}

async function runOn(
  backend: 'cpu' | 'wasm',
  kernel: string,
  inputs: Record<string, { spec: InputSpec; data: Float32Array | Int32Array }>,
  attrs: tf.NamedAttrMap,
): Promise<{ shape: number[]; values: Float32Array | Int32Array | Uint8Array; leaked: number }> {
  return withBackend(backend, () => {
    const before = tf.memory().numTensors;
    const named: tf.NamedTensorMap = {};
    for (const [name, { spec, data }] of Object.entries(inputs)) {
      named[name] = tf.tensor(data, spec.shape, spec.dtype ?? 'float32');
    }
    const out = tf.engine().runKernel(kernel, named, attrs) as tf.Tensor;
    const result = {
      shape: out.shape,
      values: out.dataSync() as Float32Array | Int32Array | Uint8Array,
    };
    out.dispose();
    tf.dispose(Object.values(named));
    return { ...result, leaked: tf.memory().numTensors - before };
  });
}

/** Runs `kernel` on cpu and wasm with the same random inputs and checks they agree. */
async function expectMatchesCpu(
  kernel: string,
  specs: Record<string, InputSpec>,
  attrs: tf.NamedAttrMap,
): Promise<void> {
  const inputs = Object.fromEntries(
    Object.entries(specs).map(([k, spec]) => [k, { spec, data: materialise(spec) }]),
  );
  const expected = await runOn('cpu', kernel, inputs, attrs);
  const actual = await runOn('wasm', kernel, inputs, attrs);
  const label = `${kernel} ${JSON.stringify(Object.values(specs).map((s) => s.shape))} ${JSON.stringify(attrs)}`;
  expect(actual.shape, label).toEqual(expected.shape);
  expect(relativeError(actual.values, expected.values), label).toBeLessThan(1e-4);
  expect(actual.leaked, `${label} leaked tensors`).toBe(0);
}

function convOutShape(
  x: number[],
  filter: number[],
  strides: number,
  pad: 'same' | 'valid',
  dilations: number,
  depthwise: boolean,
): number[] {
  return tf.backend_util.computeConv2DInfo(
    x as [number, number, number, number],
    filter as [number, number, number, number],
    strides,
    dilations,
    pad,
    undefined,
    depthwise,
  ).outShape;
}

interface ConvCase {
  batch: number;
  size: [number, number];
  inChannels: number;
  outChannels: number;
  kernel: number;
  strides: number;
  pad: 'same' | 'valid';
}

// Stride 1 and 2, same and valid, odd and even sizes, batch 1 and > 1, 1×1 … 5×5 kernels.
const convCases: ConvCase[] = [
  { batch: 1, size: [7, 7], inChannels: 3, outChannels: 4, kernel: 3, strides: 1, pad: 'same' },
  { batch: 3, size: [8, 9], inChannels: 5, outChannels: 6, kernel: 3, strides: 2, pad: 'same' },
  { batch: 2, size: [9, 7], inChannels: 4, outChannels: 3, kernel: 3, strides: 2, pad: 'valid' },
  { batch: 2, size: [10, 10], inChannels: 2, outChannels: 5, kernel: 5, strides: 1, pad: 'valid' },
  { batch: 4, size: [11, 6], inChannels: 3, outChannels: 2, kernel: 1, strides: 2, pad: 'same' },
  { batch: 2, size: [12, 12], inChannels: 3, outChannels: 4, kernel: 3, strides: 3, pad: 'same' },
  { batch: 1, size: [13, 13], inChannels: 8, outChannels: 8, kernel: 5, strides: 2, pad: 'same' },
];

beforeAll(async () => {
  // Starts wasm (threaded where it can) with our kernels registered.
  await withBackend('wasm', () => undefined);
});

describe('wasm kernels against the cpu backend', () => {
  it('registers every kernel it lists on the wasm backend', () => {
    for (const kernel of [...missingKernels, ...fasterKernels]) {
      expect(tf.getKernel(kernel.kernelName, 'wasm')?.kernelFunc).toBe(kernel.kernelFunc);
    }
    expect(wasmThreading().threads).toBeGreaterThanOrEqual(1);
  });

  it('Conv2DBackpropFilter', async () => {
    for (const c of convCases) {
      const x = [c.batch, ...c.size, c.inChannels];
      const filterShape = [c.kernel, c.kernel, c.inChannels, c.outChannels];
      const dy = convOutShape(x, filterShape, c.strides, c.pad, 1, false);
      await expectMatchesCpu(
        'Conv2DBackpropFilter',
        { x: { shape: x }, dy: { shape: dy } },
        { strides: [c.strides, c.strides], pad: c.pad, dataFormat: 'NHWC', filterShape },
      );
    }
  });

  it('Conv2DBackpropInput', async () => {
    for (const c of convCases) {
      const x = [c.batch, ...c.size, c.inChannels];
      const filterShape = [c.kernel, c.kernel, c.inChannels, c.outChannels];
      const dy = convOutShape(x, filterShape, c.strides, c.pad, 1, false);
      await expectMatchesCpu(
        'Conv2DBackpropInput',
        { dy: { shape: dy }, filter: { shape: filterShape } },
        { strides: [c.strides, c.strides], pad: c.pad, dataFormat: 'NHWC', inputShape: x },
      );
    }
  });

  it('Conv2D gradients with explicit padding', async () => {
    const x = [2, 9, 8, 3];
    const filterShape = [3, 3, 3, 4];
    const pad: tf.backend_util.ExplicitPadding = [
      [0, 0],
      [2, 0],
      [1, 2],
      [0, 0],
    ];
    const dy = tf.backend_util.computeConv2DInfo(
      x as never,
      filterShape as never,
      2,
      1,
      pad,
    ).outShape;
    const attrs = { strides: [2, 2], pad, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap;
    await expectMatchesCpu(
      'Conv2DBackpropFilter',
      { x: { shape: x }, dy: { shape: dy } },
      { ...attrs, filterShape },
    );
    await expectMatchesCpu(
      'Conv2DBackpropInput',
      { dy: { shape: dy }, filter: { shape: filterShape } },
      { ...attrs, inputShape: x },
    );
  });

  const depthwiseCases = [
    ...convCases.map((c) => ({ ...c, multiplier: 1 })),
    { ...convCases[1]!, multiplier: 2 },
    { ...convCases[2]!, multiplier: 3 },
  ];

  it('DepthwiseConv2dNativeBackpropFilter', async () => {
    for (const c of depthwiseCases) {
      const x = [c.batch, ...c.size, c.inChannels];
      const filterShape = [c.kernel, c.kernel, c.inChannels, c.multiplier];
      const dy = convOutShape(x, filterShape, c.strides, c.pad, 1, true);
      await expectMatchesCpu(
        'DepthwiseConv2dNativeBackpropFilter',
        { x: { shape: x }, dy: { shape: dy } },
        { strides: [c.strides, c.strides], dilations: [1, 1], pad: c.pad, filterShape },
      );
    }
  });

  it('DepthwiseConv2dNativeBackpropInput', async () => {
    for (const c of depthwiseCases) {
      const x = [c.batch, ...c.size, c.inChannels];
      const filterShape = [c.kernel, c.kernel, c.inChannels, c.multiplier];
      const dy = convOutShape(x, filterShape, c.strides, c.pad, 1, true);
      await expectMatchesCpu(
        'DepthwiseConv2dNativeBackpropInput',
        { dy: { shape: dy }, filter: { shape: filterShape } },
        { strides: [c.strides, c.strides], dilations: [1, 1], pad: c.pad, inputShape: x },
      );
    }
  });

  // tfjs' cpu kernels ignore dilation in these two, so the reference is the undilated gradient
  // for the equivalent filter with zeros between the taps.
  it('depthwise gradients with dilation 2', async () => {
    for (const [pad, multiplier] of [
      ['same', 1],
      ['valid', 2],
    ] as const) {
      const x = [2, 11, 10, 3];
      const kernel = 3;
      const dilation = 2;
      const wide = (kernel - 1) * dilation + 1;
      const filterShape = [kernel, kernel, 3, multiplier];
      const dyShape = convOutShape(x, filterShape, 1, pad, dilation, true);
      const xData = materialise({ shape: x });
      const dyData = materialise({ shape: dyShape });
      const filterData = materialise({ shape: filterShape });
      const attrs = { strides: [1, 1], dilations: [dilation, dilation], pad };
      const cpuAttrs = { ...attrs, dilations: [1, 1] };
      const wideFilter = new Float32Array(wide * wide * 3 * multiplier);
      const tap = 3 * multiplier;
      for (let i = 0; i < kernel; i++) {
        for (let j = 0; j < kernel; j++) {
          const from = (i * kernel + j) * tap;
          wideFilter.set(
            filterData.subarray(from, from + tap),
            (i * dilation * wide + j * dilation) * tap,
          );
        }
      }
      const [wasmFilterGrad, wasmInputGrad] = await withBackend('wasm', () =>
        tf.tidy(() =>
          [
            tf
              .engine()
              .runKernel(
                'DepthwiseConv2dNativeBackpropFilter',
                { x: tf.tensor(xData, x), dy: tf.tensor(dyData, dyShape) },
                { ...attrs, filterShape },
              ) as tf.Tensor,
            tf
              .engine()
              .runKernel(
                'DepthwiseConv2dNativeBackpropInput',
                { dy: tf.tensor(dyData, dyShape), filter: tf.tensor(filterData, filterShape) },
                { ...attrs, inputShape: x },
              ) as tf.Tensor,
          ].map((t) => t.dataSync()),
        ),
      );
      const [cpuWideFilterGrad, cpuInputGrad] = await withBackend('cpu', () =>
        tf.tidy(() =>
          [
            tf
              .engine()
              .runKernel(
                'DepthwiseConv2dNativeBackpropFilter',
                { x: tf.tensor(xData, x), dy: tf.tensor(dyData, dyShape) },
                { ...cpuAttrs, filterShape: [wide, wide, 3, multiplier] },
              ) as tf.Tensor,
            tf.engine().runKernel(
              'DepthwiseConv2dNativeBackpropInput',
              {
                dy: tf.tensor(dyData, dyShape),
                filter: tf.tensor(wideFilter, [wide, wide, 3, multiplier]),
              },
              { ...cpuAttrs, inputShape: x },
            ) as tf.Tensor,
          ].map((t) => t.dataSync()),
        ),
      );
      const cpuFilterGrad = new Float32Array(filterData.length);
      for (let i = 0; i < kernel; i++) {
        for (let j = 0; j < kernel; j++) {
          const from = (i * dilation * wide + j * dilation) * tap;
          cpuFilterGrad.set(cpuWideFilterGrad!.subarray(from, from + tap), (i * kernel + j) * tap);
        }
      }
      expect(relativeError(wasmFilterGrad!, cpuFilterGrad)).toBeLessThan(1e-4);
      expect(relativeError(wasmInputGrad!, cpuInputGrad!)).toBeLessThan(1e-4);
    }
  });

  it('Tile, of every dtype and pattern batch norm and broadcasting use', async () => {
    const cases: [number[], number[], ('float32' | 'int32')?][] = [
      [
        [1, 1, 1, 5],
        [3, 4, 5, 1],
      ],
      [
        [2, 3],
        [2, 1],
      ],
      [
        [2, 3],
        [1, 40],
      ],
      [
        [7, 1],
        [1, 4],
      ],
      [
        [2, 1, 3],
        [2, 3, 2],
      ],
      [[4], [3]],
      [[2, 2, 3], [1, 2, 1], 'int32'],
      [
        [3, 1, 1, 2],
        [1, 1, 1, 1],
      ],
    ];
    for (const [shape, reps, dtype] of cases) {
      await expectMatchesCpu('Tile', { x: { shape, ...(dtype ? { dtype } : {}) } }, { reps });
    }
  });

  it('Sum and Mean over leading, middle and trailing axes', async () => {
    const cases: [number[], number | number[], boolean][] = [
      [[4, 5, 6, 7], [0, 1, 2], false],
      [[4, 5, 6, 7], [0, 1, 2], true],
      [[3, 9, 9, 5], [1, 2], false],
      [[3, 9, 9, 5], [1, 2], true],
      [[6, 5], 0, false],
      [[2, 3, 4], [-1], false],
      [[2, 3, 4], [0, 2], false],
      [[2, 3, 4], [0, 1, 2], false],
      [[1, 4, 1, 3], [0, 1, 2], true],
    ];
    for (const [shape, axis, keepDims] of cases) {
      await expectMatchesCpu('Sum', { x: { shape } }, { axis, keepDims });
      await expectMatchesCpu('Mean', { x: { shape } }, { axis, keepDims });
    }
  });

  it('MaxPoolGrad, including ties after a ReLU', async () => {
    const cases: [number[], number, number, 'same' | 'valid'][] = [
      [[2, 9, 9, 3], 3, 2, 'same'],
      [[1, 8, 7, 2], 2, 2, 'valid'],
      [[3, 7, 7, 4], 3, 1, 'same'],
      [[2, 10, 10, 5], 3, 2, 'valid'],
    ];
    for (const [shape, filterSize, strides, pad] of cases) {
      for (const relu of [false, true]) {
        const x = materialise({ shape });
        if (relu) x.forEach((v, i) => (x[i] = Math.max(v, 0)));
        const pooled = await withBackend('cpu', () =>
          tf.tidy(() =>
            tf.maxPool(tf.tensor4d(x, shape as never), filterSize, strides, pad).dataSync(),
          ),
        );
        const outShape = tf.backend_util.computePool2DInfo(
          shape as never,
          filterSize,
          strides,
          1,
          pad,
        ).outShape;
        await expectMatchesCpu(
          'MaxPoolGrad',
          {
            dy: { shape: outShape },
            input: { shape, values: Array.from(x) },
            output: { shape: outShape, values: Array.from(pooled) },
          },
          { filterSize, strides, pad },
        );
      }
    }
  });

  it('BatchMatMul with and without transposes', async () => {
    const cases: [number[], number[], boolean, boolean][] = [
      [[5, 7], [7, 3], false, false],
      [[7, 5], [7, 3], true, false],
      [[5, 7], [3, 7], false, true],
      [[7, 5], [3, 7], true, true],
      [[1, 7, 5], [1, 7, 3], true, false],
      [[2, 5, 7], [2, 3, 7], false, true],
    ];
    for (const [a, b, transposeA, transposeB] of cases) {
      await expectMatchesCpu(
        'BatchMatMul',
        { a: { shape: a }, b: { shape: b } },
        { transposeA, transposeB },
      );
    }
  });

  it('Identity and Cast, sharing the buffer where they can', async () => {
    await expectMatchesCpu('Identity', { x: { shape: [3, 4] } }, {});
    await expectMatchesCpu('Identity', { x: { shape: [5], dtype: 'int32' } }, {});
    await expectMatchesCpu('Cast', { x: { shape: [2, 3] } }, { dtype: 'float32' });
    await expectMatchesCpu('Cast', { x: { shape: [2, 3] } }, { dtype: 'int32' });
    await expectMatchesCpu('Cast', { x: { shape: [4], dtype: 'int32' } }, { dtype: 'float32' });
    // The shared buffer outlives the input it came from.
    await withBackend('wasm', () => {
      const before = tf.memory().numTensors;
      const x = tf.tensor1d([1, 2, 3]);
      const y = tf.clone(x);
      x.dispose();
      expect(Array.from(y.dataSync())).toEqual([1, 2, 3]);
      y.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  it('UnsortedSegmentSum, with repeated and out-of-range segment ids', async () => {
    await expectMatchesCpu(
      'UnsortedSegmentSum',
      {
        x: { shape: [6, 4] },
        segmentIds: { shape: [6], dtype: 'int32', values: [0, 2, 2, -1, 5, 1] },
      },
      { numSegments: 4 },
    );
    await expectMatchesCpu(
      'UnsortedSegmentSum',
      { x: { shape: [9, 3, 5] }, segmentIds: { shape: [9], dtype: 'int32', maxInt: 7 } },
      { numSegments: 7 },
    );
    await expectMatchesCpu(
      'UnsortedSegmentSum',
      { x: { shape: [5] }, segmentIds: { shape: [5], dtype: 'int32', values: [1, 1, 0, 3, 1] } },
      { numSegments: 3 },
    );
  });
});

/** Gradients of `loss` for `variables` on one backend, as plain arrays. */
async function gradientsOn(
  backend: 'cpu' | 'wasm',
  variables: tf.Variable[],
  loss: () => tf.Scalar,
): Promise<{ loss: number; grads: Float32Array[] }> {
  return withBackend(backend, () => {
    const { value, grads } = tf.variableGrads(loss, variables);
    const result = {
      loss: value.dataSync()[0]!,
      grads: variables.map((v) => grads[v.name]!.dataSync() as Float32Array),
    };
    tf.dispose([value, ...Object.values(grads)]);
    return result;
  });
}

async function expectSameGradients(variables: tf.Variable[], loss: () => tf.Scalar): Promise<void> {
  const cpu = await gradientsOn('cpu', variables, loss);
  const wasm = await gradientsOn('wasm', variables, loss);
  expect(Math.abs(wasm.loss - cpu.loss) / Math.abs(cpu.loss)).toBeLessThan(1e-4);
  variables.forEach((v, i) => {
    // A whole network's gradient adds up float32 rounding over many kernels: 1e-3 of its scale.
    expect(relativeError(wasm.grads[i]!, cpu.grads[i]!), v.name).toBeLessThan(1e-3);
  });
}

describe('training on wasm', () => {
  it('gives a ResNet + SimCLR head the same gradients as cpu', async () => {
    const before = tf.memory().numTensors;
    const encoder = createResnetEncoder({ inputSize: 32, widths: [8, 8, 16, 16, 24], seed: 5 });
    const workload = new SimclrWorkload(encoder, { hidden: 32, projection: 16, seed: 5 });
    const views = tf.tensor4d(
      materialise({ shape: [8, 32, 32, 3] }).map((v) => (v + 1) / 2),
      [8, 32, 32, 3],
    );
    await expectSameGradients(workload.variables, () =>
      tf.tidy(() => {
        const { embedding, features } = encoder.encode(views, { training: true });
        tf.dispose(Object.values(features));
        const z = workload.head.apply(embedding) as tf.Tensor2D;
        return ntXentLoss(z.slice([0, 0], [4, -1]), z.slice([4, 0], [4, -1]), 0.5);
      }),
    );
    views.dispose();
    workload.dispose();
    encoder.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives a MobileNetV3-style block, a softmax head and an embedding lookup the same gradients as cpu', async () => {
    const before = tf.memory().numTensors;
    const v = (name: string, shape: number[]) =>
      tf.tidy(() => tf.variable(tf.tensor(materialise({ shape }), shape), true, name));
    const weights = {
      expand: v('expand', [1, 1, 8, 16]),
      depthwise: v('depthwise', [3, 3, 16, 1]),
      seReduce: v('se_reduce', [16, 4]),
      seExpand: v('se_expand', [4, 16]),
      project: v('project', [1, 1, 16, 8]),
      dense: v('dense', [8, 3]),
      embedding: v('embedding', [10, 8]),
    };
    const x = tf.tensor4d(materialise({ shape: [3, 9, 9, 8] }), [3, 9, 9, 8]);
    const labels = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 2, 1], 'int32'), 3));
    const ids = tf.tensor1d([1, 4, 4, 9, 0, 4], 'int32');
    const hardSwish = (t: tf.Tensor) => tf.mul(t, tf.div(tf.relu6(tf.add(t, 3)), 6));
    await expectSameGradients(Object.values(weights), () =>
      tf.tidy(() => {
        let y = hardSwish(tf.conv2d(x, weights.expand as tf.Tensor4D, 1, 'same'));
        y = hardSwish(
          tf.depthwiseConv2d(y as tf.Tensor4D, weights.depthwise as tf.Tensor4D, 2, 'same'),
        );
        const squeezed = tf.mean(y, [1, 2]);
        const excite = tf.div(
          tf.relu6(
            tf.add(tf.matMul(tf.relu(tf.matMul(squeezed, weights.seReduce)), weights.seExpand), 3),
          ),
          6,
        );
        y = tf.mul(y, tf.reshape(excite, [3, 1, 1, 16]));
        y = tf.conv2d(y as tf.Tensor4D, weights.project as tf.Tensor4D, 1, 'same');
        y = tf.add(
          tf.avgPool(y as tf.Tensor4D, 2, 2, 'same'),
          tf.maxPool(y as tf.Tensor4D, 2, 2, 'same'),
        );
        const logits = tf.matMul(tf.mean(y, [1, 2]), weights.dense);
        const classification = tf.losses.softmaxCrossEntropy(labels, logits);
        const looked = tf.gather(weights.embedding, ids);
        const unit = tf.div(looked, tf.norm(looked, 'euclidean', -1, true));
        const contrast = tf.mean(tf.logSumExp(tf.matMul(unit, unit, false, true), 1));
        return tf.add(classification, contrast) as tf.Scalar;
      }),
    );
    tf.dispose([x, labels, ids, ...Object.values(weights)]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('trains the ResNet encoder with SimCLR: the loss goes down, no tensors leak', async () => {
    await withBackend('wasm', async () => {
      const encoder = createResnetEncoder({ inputSize: 32, widths: [8, 8, 16, 16, 24], seed: 7 });
      const workload = new SimclrWorkload(encoder, {
        hidden: 32,
        projection: 16,
        learningRate: 3e-3,
        seed: 7,
      });
      const images = tf.tensor4d(
        materialise({ shape: [6, 32, 32, 3] }).map((v) => (v + 1) / 2),
        [6, 32, 32, 3],
      );
      // Two views of each image: itself and its mirror image.
      const views = tf.concat([images, tf.reverse(images, 2)]) as tf.Tensor4D;
      // The first step creates Adam's moment variables; every later one must add nothing.
      const losses = [await workload.step(views)];
      const before = tf.memory().numTensors;
      for (let step = 0; step < 6; step++) {
        losses.push(await workload.step(views));
        expect(tf.memory().numTensors).toBe(before);
      }
      expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.9);
      tf.dispose([images, views]);
      workload.dispose();
      encoder.dispose();
    });
  });
});
