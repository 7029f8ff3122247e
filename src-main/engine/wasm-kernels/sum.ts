// Sum for wasm: reductions over leading or middle axes (batch-norm statistics and gradients, bias
// gradients) as one average pooling (see pool-reduce.ts); innermost ones stay with the stock kernel.
import type * as tf from '@tensorflow/tfjs';
import { runStock, type WasmKernel } from './kernel-utils.js';
import { poolReduce } from './pool-reduce.js';

export const sumKernel: WasmKernel = {
  kernelName: 'Sum',
  kernelFunc: ({ inputs, attrs, backend }) => {
    const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
    return (
      poolReduce(backend, inputs.x!, axis, keepDims, 'sum') ??
      runStock(backend, 'Sum', inputs, attrs)
    );
  },
};
