// DepthwiseConv2dNativeBackpropInput for wasm (missing from tfjs-backend-wasm), for MobileNet-style
// encoders: stride-1 XNNPACK depthwise convolutions of dy with the filter's reversed taps, one
// per stride phase (see polyphase.ts). A channel multiplier m > 1 is handled by correlating all
// C·m channels of dy at once and summing each group of m, which keeps it to one kind of conv.
import type * as tf from '@tensorflow/tfjs';
import { Scratch, forwardConvInfo, view, type Shape4, type WasmKernel } from './kernel-utils.js';
import { axesOf, polyphaseInputGradient } from './polyphase.js';

export const depthwiseConv2dBackpropInputKernel: WasmKernel = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  kernelFunc: ({ inputs, attrs, backend }) => {
    const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const forward = attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
    const info = forwardConvInfo(forward.inputShape, filter.shape, forward, true);
    const [kh, kw, channels, multiplier] = filter.shape as Shape4;
    const wide = channels * multiplier;
    const scratch = new Scratch(backend);
    try {
      // Depthwise over all C·m channels of dy: filter [kh, kw, C·m, 1], one C·m block per tap.
      const gradient = polyphaseInputGradient({
        backend,
        dy,
        filter: view(filter, [kh, kw, wide, 1]),
        tapSize: wide,
        tapShape: [wide, 1],
        batch: info.batchSize,
        channels: wide,
        ...axesOf(info),
        correlate: (s, input, subFilter, padding, dil) =>
          s.stock(
            'DepthwiseConv2dNative',
            { x: input, filter: subFilter },
            { strides: [1, 1], pad: padding, dilations: dil },
          ),
      });
      if (multiplier === 1) return gradient;
      scratch.keep(gradient);
      // Channel c·m + k carries group c's share from output k: sum each group of m.
      const summed = scratch.stock(
        'Sum',
        { x: view(gradient, [info.batchSize, info.inHeight, info.inWidth, channels, multiplier]) },
        { axis: [4], keepDims: false },
      );
      return scratch.release(summed);
    } finally {
      scratch.dispose();
    }
  },
};
