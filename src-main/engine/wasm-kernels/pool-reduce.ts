// Sum and mean over a contiguous run of axes as one XNNPACK average pooling. Stock wasm reduces
// only innermost axes and transposes everything else first (batch-norm's statistics and
// gradients reduce [B, H, W, C] over B, H, W: a full transpose per call); viewing the tensor as
// [outer, R, 1, inner] and pooling an R×1 window reads it once, SIMD across the inner axis.
// Measured ~10× faster than the stock Sum on a [32, 32, 32, 64] activation.
import * as tf from '@tensorflow/tfjs';
import {
  Scratch,
  heapF32,
  runStock,
  size,
  view,
  type TensorInfo,
  type WasmBackend,
  type WasmKernel,
} from './kernel-utils.js';

/** Sum or Mean: pooled where that pays, the stock kernel elsewhere. */
export function poolReduceKernel(kernelName: 'Sum' | 'Mean', kind: 'sum' | 'mean'): WasmKernel {
  return {
    kernelName,
    kernelFunc: ({ inputs, attrs, backend }) => {
      // Mean's attributes are Sum's.
      const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
      return (
        poolReduce(backend, inputs.x!, axis, keepDims, kind) ??
        runStock(backend, kernelName, inputs, attrs)
      );
    },
  };
}

/** Returns undefined where the stock kernel is as good (innermost axes) or this cannot apply. */
export function poolReduce(
  backend: WasmBackend,
  x: TensorInfo,
  axis: number | number[],
  keepDims: boolean,
  kind: 'sum' | 'mean',
): TensorInfo | undefined {
  if (x.dtype !== 'float32' || x.shape.length === 0) return undefined;
  const axes = [...new Set(tf.util.parseAxisParam(axis, x.shape))].sort((a, b) => a - b);
  if (axes.length === 0) return undefined;
  const first = axes[0]!;
  const lastAxis = axes[axes.length - 1]!;
  if (lastAxis - first + 1 !== axes.length) return undefined;
  const outer = size(x.shape.slice(0, first));
  const reduced = size(x.shape.slice(first, lastAxis + 1));
  const inner = size(x.shape.slice(lastAxis + 1));
  // Innermost reductions are what the stock kernel does well; R = 1 is not a pooling.
  if (inner === 1 || reduced <= 1 || outer * inner === 0) return undefined;
  const scratch = new Scratch(backend);
  try {
    const pooled = scratch.stock(
      'AvgPool',
      { x: view(x, [outer, reduced, 1, inner]) },
      { filterSize: [reduced, 1], strides: [reduced, 1], pad: 'valid' },
    );
    if (kind === 'sum') {
      const values = heapF32(backend, pooled);
      for (let i = 0; i < values.length; i++) values[i]! *= reduced;
    }
    pooled.shape = keepDims
      ? x.shape.map((d, i) => (i >= first && i <= lastAxis ? 1 : d))
      : x.shape.filter((_, i) => i < first || i > lastAxis);
    return scratch.release(pooled);
  } finally {
    scratch.dispose();
  }
}
