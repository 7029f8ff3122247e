// Registers our wasm kernels: the training kernels tfjs-backend-wasm lacks, and faster versions of
// stock kernels that dominated a training step. Called once from prepareWasm(), before the wasm
// backend starts; each replaced stock kernel stays reachable through kernel-utils' runStock.
import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilterKernel } from './conv2d-backprop-filter.js';
import { conv2dBackpropInputKernel } from './conv2d-backprop-input.js';
import { depthwiseConv2dBackpropFilterKernel } from './depthwise-conv2d-backprop-filter.js';
import { depthwiseConv2dBackpropInputKernel } from './depthwise-conv2d-backprop-input.js';
import { castKernel } from './cast.js';
import { identityKernel } from './identity.js';
import { captureStock, type WasmKernel } from './kernel-utils.js';
import { maxPoolGradKernel } from './max-pool-grad.js';
import { meanKernel } from './mean.js';
import { sumKernel } from './sum.js';
import { tileKernel } from './tile.js';
import { unsortedSegmentSumKernel } from './unsorted-segment-sum.js';
import { batchMatMulKernel } from './batch-mat-mul.js';

/** Missing from tfjs-backend-wasm: training fails without them. */
export const missingKernels: readonly WasmKernel[] = [
  conv2dBackpropFilterKernel,
  depthwiseConv2dBackpropFilterKernel,
  depthwiseConv2dBackpropInputKernel,
  unsortedSegmentSumKernel,
];

/** Replacements for stock kernels that dominated a training step, largest share first. */
export const fasterKernels: readonly WasmKernel[] = [
  tileKernel,
  conv2dBackpropInputKernel,
  sumKernel,
  meanKernel,
  maxPoolGradKernel,
  batchMatMulKernel,
  identityKernel,
  castKernel,
];

let registered: readonly WasmKernel[] | undefined;

/**
 * Registers the missing kernels and, unless DEFECTSCOPE_WASM_STOCK_KERNELS=1 (for measuring the
 * stock kernels, or ruling ours out when hunting a bug), the faster replacements. Returns what
 * was registered.
 */
export function registerWasmKernels(): readonly WasmKernel[] {
  if (registered) return registered;
  const wasmKernels =
    process.env.DEFECTSCOPE_WASM_STOCK_KERNELS === '1'
      ? missingKernels
      : [...missingKernels, ...fasterKernels];
  // Capture every stock kernel first: a replacement may delegate to any of them.
  for (const kernel of wasmKernels) captureStock(kernel.kernelName);
  for (const kernel of wasmKernels) {
    const existing = tf.getKernel(kernel.kernelName, 'wasm');
    if (existing) tf.unregisterKernel(kernel.kernelName, 'wasm');
    tf.registerKernel({
      kernelName: kernel.kernelName,
      backendName: 'wasm',
      kernelFunc: kernel.kernelFunc as unknown as tf.KernelFunc,
      // The stock setup binds the wasm function that the stock kernel (our fallback) calls.
      ...(existing?.setupFunc ? { setupFunc: existing.setupFunc } : {}),
      ...(existing?.disposeFunc ? { disposeFunc: existing.disposeFunc } : {}),
    });
  }
  registered = wasmKernels;
  return registered;
}
