// Tile for wasm, replacing the stock kernel (an index computation per element, ~100 ns each):
// copies contiguous blocks and doubles them with copyWithin, i.e. at memcpy speed. Batch-norm's
// gradient tiles a [C] vector to the whole activation once per layer, and this was the largest
// kernel of a ResNet training step (392 ms of a step at 64 px in the prototype).
import type * as tf from '@tensorflow/tfjs';
import { runStock, type WasmKernel } from './kernel-utils.js';

type HeapArray = Float32Array | Int32Array | Uint8Array;

export const tileKernel: WasmKernel = {
  kernelName: 'Tile',
  kernelFunc: ({ inputs, attrs, backend }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const { reps } = attrs as unknown as tf.TileAttrs;
    if (x.dtype === 'string' || x.dtype === 'complex64')
      return runStock(backend, 'Tile', inputs, attrs);
    const shape = x.shape;
    const outShape = shape.map((d, i) => d * reps[i]!);
    const out = backend.makeOutput(outShape, x.dtype);
    const total = outShape.reduce((a, b) => a * b, 1);
    if (total === 0) return out;
    // Views only after makeOutput, which may have grown (moved) the heap.
    const src = backend.typedArrayFromHeap(x) as HeapArray;
    const dst = backend.typedArrayFromHeap(out) as HeapArray;
    let last = -1;
    for (let i = 0; i < shape.length; i++) if (reps[i]! > 1) last = i;
    if (last < 0) {
      dst.set(src);
      return out;
    }
    const inStrides = strides(shape);
    const outStrides = strides(outShape);
    const copy = (axis: number, inOff: number, outOff: number): void => {
      // Elements this axis spans in the output, for one of its repetitions.
      const segment = shape[axis]! * outStrides[axis]!;
      if (axis === last) {
        if (segment * reps[axis]! < 64) {
          for (let t = 0; t < reps[axis]!; t++) {
            for (let e = 0; e < segment; e++) dst[outOff + t * segment + e] = src[inOff + e]!;
          }
          return;
        }
        dst.set(src.subarray(inOff, inOff + segment), outOff);
      } else {
        for (let k = 0; k < shape[axis]!; k++) {
          copy(axis + 1, inOff + k * inStrides[axis]!, outOff + k * outStrides[axis]!);
        }
      }
      const length = segment * reps[axis]!;
      for (let written = segment; written < length;) {
        const n = Math.min(written, length - written);
        dst.copyWithin(outOff + written, outOff, outOff + n);
        written += n;
      }
    };
    copy(0, 0, 0);
    return out;
  },
};

function strides(shape: readonly number[]): number[] {
  const result = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    result[i] = s;
    s *= shape[i]!;
  }
  return result;
}
