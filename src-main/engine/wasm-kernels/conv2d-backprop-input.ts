// Conv2DBackpropInput for wasm, replacing the stock kernel (a scalar loop): the input gradient as
// stride-1 XNNPACK convolutions of dy with the filter's reversed taps, one per stride phase
// (see polyphase.ts). With the 3×3 convs of our encoders this made the kernel ~4× faster at
// stride 2 and more at stride 1, where it is a single convolution.
import * as tf from '@tensorflow/tfjs';
import { Scratch, assertChannelsLast, type Shape4, type WasmKernel } from './kernel-utils.js';
import { polyphaseInputGradient } from './polyphase.js';

export const conv2dBackpropInputKernel: WasmKernel = {
  kernelName: 'Conv2DBackpropInput',
  kernelFunc: ({ inputs, attrs, backend }) => {
    const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
      attrs as unknown as tf.Conv2DBackpropInputAttrs;
    assertChannelsLast('Conv2DBackpropInput', dataFormat);
    const info = tf.backend_util.computeConv2DInfo(
      inputShape,
      filter.shape as Shape4,
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      'channelsLast',
    );
    const scratch = new Scratch(backend);
    try {
      // [kh, kw, Ci, Co] → [kh, kw, Co, Ci]: each tap becomes a Co → Ci filter block for dy.
      const swapped = scratch.stock('Transpose', { x: filter }, { perm: [0, 1, 3, 2] });
      return polyphaseInputGradient({
        backend,
        dy,
        filter: swapped,
        tapSize: info.inChannels * info.outChannels,
        tapShape: [info.outChannels, info.inChannels],
        batch: info.batchSize,
        channels: info.inChannels,
        height: {
          inSize: info.inHeight,
          outSize: info.outHeight,
          kernel: info.filterHeight,
          stride: info.strideHeight,
          dilation: 1,
          padBefore: info.padInfo.top,
        },
        width: {
          inSize: info.inWidth,
          outSize: info.outWidth,
          kernel: info.filterWidth,
          stride: info.strideWidth,
          dilation: 1,
          padBefore: info.padInfo.left,
        },
        correlate: (s, input, subFilter, padding, dilations) =>
          s.stock(
            'Conv2D',
            { x: input, filter: subFilter },
            { strides: [1, 1], pad: padding, dilations, dataFormat: 'NHWC' },
          ),
      });
    } finally {
      scratch.dispose();
    }
  },
};
