// UnsortedSegmentSum for wasm (missing from tfjs-backend-wasm): the gradient of gather, so of
// embedding lookups. Built on wasm's ScatterNd, which adds up rows sent to the same index.
// Segment ids outside [0, numSegments) are dropped, as in TensorFlow: they are sent to one extra
// row that is cut off at the end.
import type * as tf from '@tensorflow/tfjs';
import { Scratch, heapI32, size, view, type WasmKernel } from './kernel-utils.js';

export const unsortedSegmentSumKernel: WasmKernel = {
  kernelName: 'UnsortedSegmentSum',
  kernelFunc: ({ inputs, attrs, backend }) => {
    const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
    const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs;
    const rows = size(segmentIds.shape);
    const inner = x.shape.slice(segmentIds.shape.length);
    const scratch = new Scratch(backend);
    try {
      const ids = scratch.output([rows, 1], 'int32');
      // Ids may arrive as float32 (tf.unsortedSegmentSum accepts either); ScatterNd needs int32.
      const source =
        segmentIds.dtype === 'int32'
          ? segmentIds
          : scratch.stock('Cast', { x: segmentIds }, { dtype: 'int32' });
      const from = heapI32(backend, source);
      const to = heapI32(backend, ids);
      for (let i = 0; i < rows; i++) {
        const id = from[i]!;
        to[i] = id >= 0 && id < numSegments ? id : numSegments;
      }
      const withOverflow = scratch.stock(
        'ScatterNd',
        { indices: ids, updates: view(x, [rows, ...inner]) },
        { shape: [numSegments + 1, ...inner] },
      );
      return scratch.release(
        scratch.stock(
          'Slice',
          { x: withOverflow },
          { begin: [0, ...inner.map(() => 0)], size: [numSegments, ...inner] },
        ),
      );
    } finally {
      scratch.dispose();
    }
  },
};
