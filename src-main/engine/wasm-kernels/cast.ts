// Cast for wasm: a cast to the dtype a tensor already has (tf.moments casts its input to float32)
// shares the buffer instead of copying it, as in the cpu backend; real conversions stay with the
// stock kernel.
import type * as tf from '@tensorflow/tfjs';
import { runStock, type WasmKernel } from './kernel-utils.js';

export const castKernel: WasmKernel = {
  kernelName: 'Cast',
  kernelFunc: ({ inputs, attrs, backend }) => {
    const x = inputs.x!;
    const { dtype } = attrs as unknown as tf.CastAttrs;
    if (dtype !== x.dtype || x.dtype === 'string') return runStock(backend, 'Cast', inputs, attrs);
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  },
};
