// Mean for wasm: reductions over leading or middle axes (batch-norm moments, global average
// pooling over H and W) as one average pooling (see pool-reduce.ts); innermost ones stay with the
// stock kernel.
import type * as tf from '@tensorflow/tfjs';
import { runStock, type WasmKernel } from './kernel-utils.js';
import { poolReduce } from './pool-reduce.js';

export const meanKernel: WasmKernel = {
  kernelName: 'Mean',
  kernelFunc: ({ inputs, attrs, backend }) => {
    const { axis, keepDims } = attrs as unknown as tf.MeanAttrs;
    return (
      poolReduce(backend, inputs.x!, axis, keepDims, 'mean') ??
      runStock(backend, 'Mean', inputs, attrs)
    );
  },
};
