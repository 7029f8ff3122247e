// Identity for wasm, replacing the stock kernel, which copies the data: TF.js tensors are
// immutable, so the output can share the input's buffer (one more reference), as the cpu
// backend's Identity does. The engine clones every tensor a custom gradient saves and the tape
// clones gradients, so a training step ran ~400 of these copies.
import { runStock, type WasmKernel } from './kernel-utils.js';

export const identityKernel: WasmKernel = {
  kernelName: 'Identity',
  kernelFunc: ({ inputs, backend }) => {
    const x = inputs.x!;
    // Strings live outside the wasm heap; leave them to the stock kernel.
    if (x.dtype === 'string') return runStock(backend, 'Identity', inputs);
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  },
};
