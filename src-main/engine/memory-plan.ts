// How many images one step may take on the active backend, decided before the step runs:
// inference is split into passes that fit, and a training batch that would not fit is refused
// with the batch size that does. Without this, a step too big for wasm's 4 GiB heap takes the
// whole process down inside a kernel (`RuntimeError: Aborted()` or `memory access out of
// bounds`, which nothing can catch) or hangs, and one whose tensor is larger than a GPU's buffer
// limit fails validation and computes garbage.
//
// The estimate is measured, not guessed: the step runs at two small batches while the engine
// records, after every kernel, the tensor bytes alive and the sizes of the kernel's output and
// inputs. Kernel by kernel these grow linearly with the batch (activations scale with it;
// weights, their gradients and the optimizer's state do not), so two probes give each kernel a
// line, bytes = fixed + batch × perImage, and the largest of those lines is the step's peak at
// any batch.
import { totalmem } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { formatBytes } from '../shared/bytes.js';
import { MemoryLimitError } from '../shared/errors.js';

export interface MemoryLimits {
  backend: string;
  /** Bytes all tensors of a step may take together; absent where the backend does not say. */
  totalBytes?: number;
  /** Bytes of the largest single tensor; absent where only the total bounds it. */
  tensorBytes?: number;
  /**
   * Bytes a kernel uses outside the engine's accounting, as a multiple of its inputs' bytes: the
   * wasm training kernels transpose their input and output gradient into scratch buffers.
   */
  scratchFactor: number;
  /** The limits in words, for messages. */
  description: string;
}

/** Bytes as a function of the batch: fixed + batch × perImage. */
export interface BatchLine {
  fixed: number;
  perImage: number;
}

/** What a step allocates, kernel by kernel, as lines in the batch. */
export interface StepFootprint {
  /** Tensor bytes alive after each kernel, beyond those alive before the step. */
  alive: BatchLine[];
  /** The largest output of each kernel. */
  largest: BatchLine[];
  /** The bytes of each kernel's inputs (what its scratch buffers scale with). */
  inputs: BatchLine[];
}

const WASM_HEAP = 4 * 1024 ** 3;

/** The limits of the backend TF.js runs on now. */
export function memoryLimits(): MemoryLimits {
  const backend = tf.getBackend();
  switch (backend) {
    case 'wasm':
      // wasm32 addresses 4 GiB. The engine's count of tensor bytes over-counts the heap (a
      // reshape counts again though it shares its data) about as much as it misses (XNNPACK's
      // packed weights, fragmentation, and the training kernels' transposed copies of their
      // inputs, counted here as half their inputs). Calibrated on two training steps run to the
      // heap's limit on the 2-core development PC: VGG-16 at 128 px ran batch 32 (heap high-water
      // mark 3.57 GiB) and crashed at 48 ("memory access out of bounds" inside Conv2D); a
      // 4-stage ResNet with tfjs-layers batch norm ran 56 and failed at 64. This plan allows 32
      // and 41.
      return {
        backend,
        totalBytes: WASM_HEAP,
        tensorBytes: WASM_HEAP,
        scratchFactor: 0.5,
        description: 'the wasm heap (4 GiB)',
      };
    case 'webgpu': {
      const { maxBufferSize, maxStorageBufferBindingSize } = gpuLimits();
      const tensorBytes = Math.min(maxBufferSize, maxStorageBufferBindingSize);
      // WebGPU does not tell how much memory the GPU has; only single buffers are bounded.
      return {
        backend,
        tensorBytes,
        scratchFactor: 0,
        description: `this GPU's buffer limit (${formatBytes(tensorBytes)} per tensor: maxBufferSize ${formatBytes(maxBufferSize)}, maxStorageBufferBindingSize ${formatBytes(maxStorageBufferBindingSize)})`,
      };
    }
    default:
      // cpu and the native TensorFlow backends keep tensors in the process's own memory.
      return {
        backend,
        totalBytes: 0.75 * totalmem(),
        // Native kernels may copy their inputs (im2col) once.
        scratchFactor: 1,
        description: `three quarters of this computer's ${formatBytes(totalmem())} of memory`,
      };
  }
}

function gpuLimits(): { maxBufferSize: number; maxStorageBufferBindingSize: number } {
  // The device the backend was created on, with the limits it was granted.
  const backend = tf.backend() as unknown as { device: { limits: Record<string, number> } };
  return {
    maxBufferSize: backend.device.limits.maxBufferSize!,
    maxStorageBufferBindingSize: backend.device.limits.maxStorageBufferBindingSize!,
  };
}

interface KernelBytes {
  alive: number;
  largest: number;
  inputs: number;
}

/**
 * Runs `run` once, synchronously, and returns for every kernel it ran the tensor bytes alive
 * after it (beyond those alive before) and its largest output. Uses the engine's profiling
 * record, as tf.profile does, but without waiting for kernel timings, so that synchronous code
 * (inside tf.tidy) can plan; an outer tf.profile keeps its own record.
 */
function traceKernels(run: () => void): KernelBytes[] {
  const state = tf.engine().state;
  const outer = { profiling: state.profiling, kernels: state.activeProfile.kernels };
  const start = state.numBytes;
  state.activeProfile.kernels = [];
  state.profiling = true;
  let kernels: typeof outer.kernels;
  try {
    run();
  } finally {
    kernels = state.activeProfile.kernels;
    state.profiling = outer.profiling;
    state.activeProfile.kernels = outer.kernels;
  }
  return kernels.map((k) => {
    // Timings arrive later and are not wanted; a failed one must not surface as unhandled.
    Promise.resolve(k.kernelTimeMs).catch(() => undefined);
    Promise.resolve(k.extraInfo).catch(() => undefined);
    // Shapes only: every tensor of a step is taken to hold 4-byte elements (float32, int32).
    const bytes = (shape: number[] | null) => (shape ? 4 * tf.util.sizeFromShape(shape) : 0);
    return {
      alive: k.totalBytesSnapshot - start,
      largest: Math.max(0, ...k.outputShapes.map(bytes)),
      inputs: k.inputShapes.reduce((sum: number, shape) => sum + bytes(shape), 0),
    };
  });
}

/**
 * Measures `step` at batches `small` < `large` (each run must leave no tensors behind) and fits
 * each kernel's line. Should the two runs not run the same kernels, every byte of the larger one
 * is taken to grow with the batch, which over-estimates and so stays safe.
 */
export function measureStep(step: (batch: number) => void, small = 1, large = 2): StepFootprint {
  const a = traceKernels(() => step(small));
  const b = traceKernels(() => step(large));
  const fit = (pick: (k: KernelBytes) => number): BatchLine[] => {
    if (a.length !== b.length) {
      const most = Math.max(0, ...b.map(pick));
      return [{ fixed: most, perImage: most / large }];
    }
    return a.map((k, i) => {
      const perImage = (pick(b[i]!) - pick(k)) / (large - small);
      // A line that does not grow is held at its larger value.
      return perImage > 0
        ? { fixed: pick(k) - small * perImage, perImage }
        : { fixed: Math.max(pick(k), pick(b[i]!)), perImage: 0 };
    });
  };
  return {
    alive: fit((k) => k.alive),
    largest: fit((k) => k.largest),
    inputs: fit((k) => k.inputs),
  };
}

const at = (line: BatchLine, batch: number) => line.fixed + batch * line.perImage;

/** The step's peak tensor bytes and its largest tensor at `batch`. */
export function footprintAt(
  footprint: StepFootprint,
  batch: number,
  limits: Pick<MemoryLimits, 'scratchFactor'>,
): { peakBytes: number; largestTensorBytes: number } {
  let peakBytes = 0;
  footprint.alive.forEach((line, i) => {
    const scratch = limits.scratchFactor * at(footprint.inputs[i] ?? line, batch);
    peakBytes = Math.max(peakBytes, at(line, batch) + scratch);
  });
  const largestTensorBytes = Math.max(0, ...footprint.largest.map((line) => at(line, batch)));
  return { peakBytes, largestTensorBytes };
}

/**
 * The largest batch whose step fits `limits` with `liveBytes` already taken by other tensors
 * (weights, a memory bank); Infinity where nothing bounds it, 0 where not even one image fits.
 */
export function largestBatch(
  footprint: StepFootprint,
  limits: MemoryLimits,
  liveBytes: number,
): number {
  let most = Infinity;
  const bound = (line: BatchLine, room: number) => {
    if (line.perImage > 0) most = Math.min(most, (room - line.fixed) / line.perImage);
    else if (line.fixed > room) most = 0;
  };
  if (limits.totalBytes !== undefined) {
    footprint.alive.forEach((line, i) => {
      const inputs = footprint.inputs[i] ?? line;
      const k = limits.scratchFactor;
      bound(
        { fixed: line.fixed + k * inputs.fixed, perImage: line.perImage + k * inputs.perImage },
        limits.totalBytes! - liveBytes,
      );
    });
  }
  if (limits.tensorBytes !== undefined) {
    for (const line of footprint.largest) bound(line, limits.tensorBytes);
  }
  return Math.max(0, Math.floor(most));
}

// Footprints are measured once per network (owner) and step shape (key).
const measured = new WeakMap<object, Map<string, StepFootprint>>();

function cachedFootprint(owner: object, key: string, measure: () => StepFootprint): StepFootprint {
  let byKey = measured.get(owner);
  if (!byKey) measured.set(owner, (byKey = new Map()));
  let footprint = byKey.get(key);
  if (!footprint) byKey.set(key, (footprint = measure()));
  return footprint;
}

export interface InferencePlan {
  /** The network the step runs (its footprint is measured once per owner and key). */
  owner: object;
  /** The step's shape, e.g. 'patch-features stride4+stride8 224x224'. */
  key: string;
  /** Images to process. */
  count: number;
  /** Runs the step on `batch` images (a probe; every tensor it makes is freed after). */
  step: (batch: number) => unknown;
  /** At most this many images a pass on backends without a GPU (they gain nothing from more). */
  cpuCap?: number;
  /** The step on one image, for the message when not even that fits. */
  what: string;
}

/**
 * Images per pass for an inference step over `plan.count` images: as many as fit the active
 * backend (on a CPU backend at most `cpuCap`). Throws MemoryLimitError if not even one fits.
 */
export function imagesPerPass(plan: InferencePlan): number {
  const cap =
    tf.getBackend() === 'webgpu' ? plan.count : Math.min(plan.count, plan.cpuCap ?? Infinity);
  // The probes run 1 and 2 images: for two or fewer, probing would cost as much as the step.
  if (plan.count <= 2) return Math.max(1, cap);
  const footprint = cachedFootprint(plan.owner, plan.key, () =>
    // Whatever the step returns is dropped with the rest.
    measureStep((batch) => tf.tidy(() => void plan.step(batch))),
  );
  const limits = memoryLimits();
  const fits = largestBatch(footprint, limits, tf.memory().numBytes);
  if (fits < 1) throw tooLarge(plan.what, 1, 0, footprint, limits);
  return Math.max(1, Math.min(cap, fits));
}

export interface TrainingPlan {
  owner: object;
  key: string;
  /** The batch the run asks for. */
  batchSize: number;
  /** The loss of one step on `batch` images; its gradients are taken, not applied. */
  loss: (batch: number) => tf.Scalar;
  /** Every variable the optimizer updates. */
  variables: tf.Variable[];
  /** Bytes of optimizer state still to be made at the first update (Adam: two per weight). */
  optimizerBytes: number;
  /** The step for messages, e.g. 'a SimCLR step of 32 images (64 views) at 128 px'. */
  what: string;
  /** The smallest batch the step accepts (SimCLR and batch norm need 2). */
  smallest: number;
}

/**
 * Refuses, before it starts, a training run whose step would not fit the active backend: throws
 * MemoryLimitError naming the largest batch that fits. The probes (batches `smallest` and one
 * more) take gradients without applying them, and put back what batch norm's moving statistics
 * learnt from them, so the run itself is exactly what it would have been.
 */
export function checkTrainingBatch(plan: TrainingPlan): void {
  const small = plan.smallest;
  if (plan.batchSize <= small + 1) return;
  const footprint = cachedFootprint(plan.owner, plan.key, () =>
    withStateRestored(() =>
      measureStep(
        (batch) =>
          tf.tidy(() => {
            const { value, grads } = tf.variableGrads(() => plan.loss(batch), plan.variables);
            tf.dispose([value, ...Object.values(grads)]);
          }),
        small,
        small + 1,
      ),
    ),
  );
  const limits = memoryLimits();
  const fits = largestBatch(footprint, limits, tf.memory().numBytes + plan.optimizerBytes);
  if (fits >= plan.batchSize) return;
  throw tooLarge(plan.what, plan.batchSize, fits, footprint, limits);
}

/** Runs `fn`, then puts back every non-trainable variable it changed (batch norm's statistics). */
function withStateRestored<T>(fn: () => T): T {
  const frozen = Object.values(tf.engine().state.registeredVariables).filter((v) => !v.trainable);
  const saved = frozen.map((v) => tf.clone(v));
  try {
    return fn();
  } finally {
    frozen.forEach((v, i) => v.assign(saved[i]!));
    tf.dispose(saved);
  }
}

function tooLarge(
  what: string,
  batchSize: number,
  fits: number,
  footprint: StepFootprint,
  limits: MemoryLimits,
): MemoryLimitError {
  const { peakBytes, largestTensorBytes } = footprintAt(footprint, batchSize, limits);
  const needs =
    limits.totalBytes !== undefined && peakBytes > limits.totalBytes
      ? `about ${formatBytes(peakBytes)} of tensor memory`
      : `a tensor of ${formatBytes(largestTensorBytes)}`;
  const advice =
    fits >= 1
      ? `A batch of ${fits} fits: use a batch size of ${fits} or less, a smaller input size, or a GPU.`
      : 'Use a smaller input size.';
  return new MemoryLimitError(
    `${what[0]!.toUpperCase()}${what.slice(1)} needs ${needs}, more than ${limits.description} on the ${limits.backend} backend allows. ${advice}`,
    batchSize,
    fits,
  );
}
