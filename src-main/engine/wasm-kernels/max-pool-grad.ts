// MaxPoolGrad for wasm, replacing the stock kernel (a scalar C++ loop that took ~300 ms for the
// stem pool of a batch of 32 at 64 px). A plain JS loop, because no wasm kernel fits: the
// obvious MaxPoolWithArgmax + ScatterNd pair is wrong in tfjs-backend-wasm 4.22 — its argmax
// points at channel 0 for some windows that overlap the padding (caught by the cpu comparison).
// Each window's maximum is found for all channels at once (the inner loop runs over contiguous
// channels), keeping the cpu kernel's rule: the first strictly greater value wins, padding never
// does, and windows that share a maximum add their gradients.
import * as tf from '@tensorflow/tfjs';
import { heapF32, type Shape4, type WasmKernel } from './kernel-utils.js';

export const maxPoolGradKernel: WasmKernel = {
  kernelName: 'MaxPoolGrad',
  kernelFunc: ({ inputs, attrs, backend }) => {
    const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
    const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
    const info = tf.backend_util.computePool2DInfo(
      input.shape as Shape4,
      filterSize,
      strides,
      1,
      pad,
      dimRoundingMode,
    );
    const { batchSize, inHeight, inWidth, inChannels: C, outHeight, outWidth } = info;
    const { strideHeight, strideWidth, effectiveFilterHeight: fh, effectiveFilterWidth: fw } = info;
    const { top, left } = info.padInfo;
    const dx = backend.makeOutput([...input.shape], 'float32');
    // Views only after makeOutput, which may have grown (moved) the heap.
    const x = heapF32(backend, input);
    const g = heapF32(backend, dy);
    const out = heapF32(backend, dx);
    out.fill(0);
    const maxValue = new Float32Array(C);
    const maxAt = new Int32Array(C);
    for (let b = 0; b < batchSize; b++) {
      for (let oy = 0; oy < outHeight; oy++) {
        const y0 = oy * strideHeight - top;
        const yStart = Math.max(y0, 0);
        const yEnd = Math.min(y0 + fh, inHeight);
        for (let ox = 0; ox < outWidth; ox++) {
          const x0 = ox * strideWidth - left;
          const xStart = Math.max(x0, 0);
          const xEnd = Math.min(x0 + fw, inWidth);
          maxValue.fill(-Infinity);
          maxAt.fill(-1);
          for (let yy = yStart; yy < yEnd; yy++) {
            for (let xx = xStart; xx < xEnd; xx++) {
              const base = ((b * inHeight + yy) * inWidth + xx) * C;
              for (let c = 0; c < C; c++) {
                const v = x[base + c]!;
                if (v > maxValue[c]!) {
                  maxValue[c] = v;
                  maxAt[c] = base + c;
                }
              }
            }
          }
          const gradBase = ((b * outHeight + oy) * outWidth + ox) * C;
          for (let c = 0; c < C; c++) {
            const at = maxAt[c]!;
            if (at >= 0) out[at]! += g[gradBase + c]!;
          }
        }
      }
    }
    return dx;
  },
};
