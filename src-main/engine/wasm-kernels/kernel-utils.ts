// Shared plumbing for our wasm kernels: calling wasm's own kernels directly (no engine, no tape,
// no tensor bookkeeping), freeing their intermediate outputs, and reading shapes and attributes.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type WasmBackend = BackendWasm;
export type TensorInfo = tf.TensorInfo;
export type Attrs = tf.NamedAttrMap;
export type Inputs = Record<string, TensorInfo>;
export type Shape4 = [number, number, number, number];

/** What a kernel file exports: its config for tf.registerKernel, minus the backend name. */
export interface WasmKernel {
  kernelName: string;
  kernelFunc: (args: { inputs: Inputs; attrs: Attrs; backend: WasmBackend }) => TensorInfo;
}

// The stock wasm kernels, captured before ours replace some of them, so a replacement can hand
// the cases it does not speed up back to the original.
const stock = new Map<string, tf.KernelConfig>();

/** Remembers the stock kernel `name` (first call wins). */
export function captureStock(name: string): tf.KernelConfig | undefined {
  if (!stock.has(name)) {
    const kernel = tf.getKernel(name, 'wasm');
    if (kernel) stock.set(name, kernel);
  }
  return stock.get(name);
}

/** Runs wasm's own (stock) kernel `name` synchronously; the caller owns the output. */
export function runStock(
  backend: WasmBackend,
  name: string,
  inputs: Inputs,
  attrs: Attrs = {},
): TensorInfo {
  const kernel = stock.get(name) ?? captureStock(name);
  if (!kernel) throw new Error(`The wasm backend has no '${name}' kernel.`);
  return kernel.kernelFunc({ inputs, attrs, backend }) as TensorInfo;
}

/** Runs whichever wasm kernel is registered as `name` now (ours or the stock one). */
export function runKernel(
  backend: WasmBackend,
  name: string,
  inputs: Inputs,
  attrs: Attrs = {},
): TensorInfo {
  const kernel = tf.getKernel(name, 'wasm');
  if (!kernel) throw new Error(`The wasm backend has no '${name}' kernel.`);
  return kernel.kernelFunc({ inputs, attrs, backend }) as TensorInfo;
}

/**
 * The intermediate outputs of one kernel call, freed together in `finally`. A kernel's result
 * must not be in here (or must be taken out with `release`).
 */
export class Scratch {
  private readonly infos: TensorInfo[] = [];
  constructor(private readonly backend: WasmBackend) {}

  keep(info: TensorInfo): TensorInfo {
    this.infos.push(info);
    return info;
  }

  stock(name: string, inputs: Inputs, attrs: Attrs = {}): TensorInfo {
    return this.keep(runStock(this.backend, name, inputs, attrs));
  }

  kernel(name: string, inputs: Inputs, attrs: Attrs = {}): TensorInfo {
    return this.keep(runKernel(this.backend, name, inputs, attrs));
  }

  /** A new, uninitialised float32 tensor on the wasm heap. */
  output(shape: number[], dtype: tf.DataType = 'float32'): TensorInfo {
    return this.keep(this.backend.makeOutput(shape, dtype));
  }

  /** Takes `info` out of the scratch list: the caller now owns it (e.g. to return it). */
  release(info: TensorInfo): TensorInfo {
    const at = this.infos.indexOf(info);
    if (at >= 0) this.infos.splice(at, 1);
    return info;
  }

  dispose(): void {
    for (const info of this.infos) this.backend.disposeData(info.dataId);
    this.infos.length = 0;
  }
}

/**
 * The same data seen with another shape. No reference is taken: only pass it as an input while
 * `info` is alive; never return or dispose it.
 */
export function view(info: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

/** The tensor's values on the wasm heap, viewed (not copied); valid until the next allocation. */
export function heapF32(backend: WasmBackend, info: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

export function heapI32(backend: WasmBackend, info: TensorInfo): Int32Array {
  return backend.typedArrayFromHeap(info) as Int32Array;
}

export function pair(value: number | number[] | undefined, fallback = 1): [number, number] {
  if (value === undefined) return [fallback, fallback];
  if (typeof value === 'number') return [value, value];
  return [value[0] ?? fallback, value[1] ?? value[0] ?? fallback];
}

export function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** The attributes that fix a gradient kernel's forward convolution. */
export interface ForwardConvAttrs {
  strides: number | [number, number];
  pad: tf.Conv2DBackpropInputAttrs['pad'];
  dimRoundingMode?: tf.Conv2DBackpropInputAttrs['dimRoundingMode'];
  /** Depthwise kernels only; dense gradient kernels have none. */
  dilations?: number | [number, number];
}

/** The geometry of the forward convolution (channels last), dense or depthwise. */
export function forwardConvInfo(
  inputShape: readonly number[],
  filterShape: readonly number[],
  attrs: ForwardConvAttrs,
  depthwise: boolean,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    inputShape as Shape4,
    filterShape as Shape4,
    attrs.strides,
    depthwise ? pair(attrs.dilations) : 1,
    attrs.pad,
    attrs.dimRoundingMode,
    depthwise,
    'channelsLast',
  );
}

export function assertChannelsLast(kernel: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(
      `${kernel} on wasm supports NHWC (channels-last) data only; got ${String(dataFormat)}.`,
    );
  }
}
