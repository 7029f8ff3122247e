// BatchMatMul for wasm: stock wasm sends every product with a transpose flag (dense layers'
// gradients: xᵀ·dy and dy·Wᵀ) or a batch to a scalar blocked loop, and only plain 2-D products
// to XNNPACK. Here the transposed operand of a 2-D product is transposed first, so the product
// runs in XNNPACK too.
import type * as tf from '@tensorflow/tfjs';
import { Scratch, runStock, size, view, type WasmKernel } from './kernel-utils.js';

export const batchMatMulKernel: WasmKernel = {
  kernelName: 'BatchMatMul',
  kernelFunc: ({ inputs, attrs, backend }) => {
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
    const batchA = size(a.shape.slice(0, -2));
    const batchB = size(b.shape.slice(0, -2));
    if ((!transposeA && !transposeB) || batchA !== 1 || batchB !== 1 || a.dtype !== 'float32') {
      return runStock(backend, 'BatchMatMul', inputs, attrs);
    }
    const scratch = new Scratch(backend);
    try {
      const matrix = (t: tf.TensorInfo, transpose: boolean): tf.TensorInfo => {
        const rows = t.shape[t.shape.length - 2]!;
        const cols = t.shape[t.shape.length - 1]!;
        const plain = view(t, [rows, cols]);
        return transpose ? scratch.stock('Transpose', { x: plain }, { perm: [1, 0] }) : plain;
      };
      const product = runStock(
        backend,
        'BatchMatMul',
        { a: matrix(a, transposeA), b: matrix(b, transposeB) },
        { transposeA: false, transposeB: false },
      );
      // Same leading (size-1) axes as the stock kernel would give.
      const rank = Math.max(a.shape.length, b.shape.length);
      const [rows, cols] = product.shape.slice(-2) as [number, number];
      product.shape = [...new Array<number>(rank - 2).fill(1), rows, cols];
      return product;
    } finally {
      scratch.dispose();
    }
  },
};
