// Decodes batches of image files in a worker thread, so the next batch is read and decoded while
// the engine's training step (which blocks the main thread on cpu and wasm) runs.
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { ImageError, ModelError, errorMessage, type ImageProblem } from '../shared/errors.js';
import type { Roi } from '../shared/roi.js';

/**
 * What images are resized to: a square side, or [width, height] — a type's own aspect, so a
 * 500 × 1250 camera image is not squashed into a square (input-shape.ts chooses it).
 */
export type InputShape = number | readonly [width: number, height: number];

export function widthHeight(shape: InputShape): [width: number, height: number] {
  return typeof shape === 'number' ? [shape, shape] : [shape[0], shape[1]];
}

export interface DecodedBatch {
  /** The images that decoded, [count, height, width, 3] RGB in 0..1, in the order requested. */
  pixels: Float32Array;
  /** Paths of the images in `pixels`, in order. */
  paths: string[];
  /** Images that could not be read, each with its reason; the batch carries on without them. */
  failures: ImageError[];
  width: number;
  height: number;
}

interface Reply {
  id: number;
  pixels: Float32Array;
  decoded: number[];
  failures: { path: string; problem: ImageProblem; message: string }[];
}

interface Waiting {
  paths: readonly string[];
  shape: [width: number, height: number];
  resolve: (batch: DecodedBatch) => void;
  reject: (error: Error) => void;
}

export class ImageBatchLoader {
  /** The shape `load` decodes to unless told another. */
  readonly size: InputShape;
  private readonly worker: Worker;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 0;
  private failed: Error | undefined;

  /** `size`: what images are resized to unless a load asks for another shape. */
  constructor(size: InputShape) {
    this.size = size;
    this.worker = new Worker(new URL('./decode-worker.js', import.meta.url));
    this.worker.on('message', (reply: Reply) => this.settle(reply));
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => {
      if (this.waiting.size > 0) this.fail(new Error(`the decoder thread exited (code ${code})`));
    });
  }

  /**
   * Starts decoding `paths`, each cropped to `roi` (a type's region of interest) when given;
   * several loads may be in flight (that is the prefetch).
   */
  load(
    paths: readonly string[],
    shape: InputShape = this.size,
    roi: Roi | null = null,
  ): Promise<DecodedBatch> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    const size = widthHeight(shape);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { paths, shape: size, resolve, reject });
      this.worker.postMessage({ id, paths: [...paths], size, roi });
    });
  }

  async close(): Promise<void> {
    this.fail(new Error('the image loader was closed'));
    await this.worker.terminate();
  }

  private settle(reply: Reply): void {
    const waiting = this.waiting.get(reply.id);
    if (!waiting) return;
    this.waiting.delete(reply.id);
    waiting.resolve({
      pixels: reply.pixels,
      paths: reply.decoded.map((i) => waiting.paths[i]!),
      failures: reply.failures.map((f) => {
        // The worker's message already starts with the path; ImageError adds it again.
        const detail = f.message.startsWith(`${f.path}: `)
          ? f.message.slice(f.path.length + 2)
          : f.message;
        return new ImageError(f.path, f.problem, detail);
      }),
      width: waiting.shape[0],
      height: waiting.shape[1],
    });
  }

  private fail(error: unknown): void {
    this.failed ??= new ModelError(`Image decoding stopped: ${errorMessage(error)}`, {
      cause: error,
    });
    for (const waiting of this.waiting.values()) waiting.reject(this.failed);
    this.waiting.clear();
  }
}

/** The batch's pixels as a [count, height, width, 3] tensor the caller owns. */
export function batchTensor(batch: DecodedBatch): tf.Tensor4D {
  return tf.tensor4d(batch.pixels, [batch.paths.length, batch.height, batch.width, 3]);
}

/**
 * Yields `count` decoded batches, each decoded while the consumer works on the one before:
 * batch i + 1 is requested before batch i is handed out.
 */
export async function* prefetchBatches(
  loader: ImageBatchLoader,
  count: number,
  pathsOf: (index: number) => readonly string[],
  shape: InputShape = loader.size,
  roi: Roi | null = null,
): AsyncGenerator<DecodedBatch> {
  let pending = count > 0 ? loader.load(pathsOf(0), shape, roi) : undefined;
  try {
    for (let i = 0; i < count; i++) {
      const batch = await pending!;
      pending = i + 1 < count ? loader.load(pathsOf(i + 1), shape, roi) : undefined;
      yield batch;
    }
  } finally {
    // A consumer that stops early leaves one request in flight; nobody will wait for it.
    pending?.catch(() => undefined);
  }
}
