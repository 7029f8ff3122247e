// DepthwiseConv2dNativeBackpropFilter for wasm (missing from tfjs-backend-wasm): like the dense
// filter gradient (conv2d-backprop-filter.ts), one XNNPACK depthwise convolution over transposed
// tensors, then a sum over the batch.
//
//   dW[i,j,c,k] = Σ_b Σ_{y,x} x[b, y·s + i·d − pad, x·s + j·d − pad, c] · dy[b, y, x, c·m + k]
//
// x seen as one image [1, H, W, B·C] and dy as a depthwise filter [OH, OW, B·C, m] give, with
// stride d and dilation s, [1, kh, kw, B·C·m]; summing over B leaves dW. Measured ~1.5× faster
// than a per-tap multiply-and-reduce on wasm kernels and than a plain JS loop.
import type * as tf from '@tensorflow/tfjs';
import { Scratch, forwardConvInfo, runKernel, view, type WasmKernel } from './kernel-utils.js';

export const depthwiseConv2dBackpropFilterKernel: WasmKernel = {
  kernelName: 'DepthwiseConv2dNativeBackpropFilter',
  kernelFunc: ({ inputs, attrs, backend }) => {
    const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const forward = attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
    const { filterShape } = forward;
    const info = forwardConvInfo(x.shape, filterShape, forward, true);
    const { dilationHeight, dilationWidth } = info;
    const { batchSize, inHeight, inWidth, outHeight, outWidth, strideHeight, strideWidth } = info;
    const [kh, kw, channels, multiplier] = filterShape;
    const { top, left } = info.padInfo;
    // Padding after the input that the last tap of the last window needs; negative: crop.
    const bottom = (kh - 1) * dilationHeight + (outHeight - 1) * strideHeight + 1 - inHeight - top;
    const right = (kw - 1) * dilationWidth + (outWidth - 1) * strideWidth + 1 - inWidth - left;

    const scratch = new Scratch(backend);
    try {
      const xt = scratch.stock('Transpose', { x }, { perm: [1, 2, 0, 3] });
      let image = view(xt, [1, inHeight, inWidth, batchSize * channels]);
      if (bottom < 0 || right < 0) {
        image = scratch.stock(
          'Slice',
          { x: image },
          {
            begin: [0, 0, 0, 0],
            size: [
              1,
              inHeight + Math.min(bottom, 0),
              inWidth + Math.min(right, 0),
              batchSize * channels,
            ],
          },
        );
      }
      const dyt = scratch.stock('Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
      const perImage = scratch.stock(
        'DepthwiseConv2dNative',
        { x: image, filter: view(dyt, [outHeight, outWidth, batchSize * channels, multiplier]) },
        {
          strides: [dilationHeight, dilationWidth],
          dilations: [strideHeight, strideWidth],
          pad: [
            [0, 0],
            [top, Math.max(bottom, 0)],
            [left, Math.max(right, 0)],
            [0, 0],
          ],
        },
      );
      const summed = runKernel(
        backend,
        'Sum',
        { x: view(perImage, [kh, kw, batchSize, channels * multiplier]) },
        { axis: [2], keepDims: false },
      );
      summed.shape = [kh, kw, channels, multiplier];
      return summed;
    } finally {
      scratch.dispose();
    }
  },
};
