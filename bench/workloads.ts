// The work the engine benchmark times and the kernel tests train: a full SimCLR step (encoder,
// two-layer projection head, NT-Xent, Adam) and batch inference, plus a forward-FLOP count read
// off the kernels a forward pass runs. Kept apart from bench/engine.ts so tests can reuse it.
import * as tf from '@tensorflow/tfjs';
import type { Encoder } from '../src-main/engine/encoders/encoder.js';
import { takeScalar } from '../src-main/engine/readback.js';
import { ntXentLoss } from '../src-main/engine/ssl/simclr.js';

export const TEMPERATURE = 0.5;

/** Encoder + projection head + Adam, as SimCLR trains them. */
export class SimclrWorkload {
  readonly head: tf.Sequential;
  readonly optimizer: tf.AdamOptimizer;
  /** Everything the step updates: the encoder's trainable weights, then the head's. */
  readonly variables: tf.Variable[];

  constructor(
    readonly encoder: Encoder,
    options: { hidden?: number; projection?: number; learningRate?: number; seed?: number } = {},
  ) {
    const seed = options.seed ?? 1;
    this.head = tf.sequential({
      name: 'bench_projection_head',
      layers: [
        tf.layers.dense({
          inputShape: [encoder.info.embeddingSize],
          units: options.hidden ?? 256,
          activation: 'relu',
          kernelInitializer: tf.initializers.glorotUniform({ seed }),
        }),
        tf.layers.dense({
          units: options.projection ?? 128,
          kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }),
        }),
      ],
    });
    this.optimizer = tf.train.adam(options.learningRate ?? 1e-3);
    this.variables = [
      ...encoder.trainableVariables(),
      ...this.head.trainableWeights.map((w) => w.read() as tf.Variable),
    ];
  }

  /**
   * One optimisation step on `views`: [2N, H, W, 3], the first N and the last N being two views
   * of the same N images. Returns the loss, read back (so the step has finished, on a GPU too).
   * Leaves no tensors behind.
   */
  step(views: tf.Tensor4D): Promise<number> {
    const loss = tf.tidy(() => {
      const n = views.shape[0] / 2;
      return this.optimizer.minimize(
        () => {
          const { embedding, features } = this.encoder.encode(views, { training: true });
          // The feature maps are outputs too; nothing uses them in this step.
          tf.dispose(Object.values(features));
          const z = this.head.apply(embedding, { training: true }) as tf.Tensor2D;
          return ntXentLoss(z.slice([0, 0], [n, -1]), z.slice([n, 0], [n, -1]), TEMPERATURE);
        },
        true,
        this.variables,
      )!;
    });
    return takeScalar(loss);
  }

  dispose(): void {
    this.head.dispose();
    this.optimizer.dispose();
  }
}

/** Embeds a batch (inference mode) and waits for the values. */
export async function inferStep(encoder: Encoder, images: tf.Tensor4D): Promise<void> {
  const embedding = tf.tidy(() => {
    const { embedding, features } = encoder.encode(images);
    tf.dispose(Object.values(features));
    return embedding;
  });
  try {
    await embedding.data();
  } finally {
    embedding.dispose();
  }
}

/**
 * Forward GFLOP per image at `size` px (2 × multiply-adds of convolutions and matrix products),
 * read off the kernels one forward pass of a single image runs, so it fits any encoder.
 */
export async function forwardGflop(encoder: Encoder, size: number): Promise<number> {
  const image = tf.zeros([1, size, size, 3]) as tf.Tensor4D;
  try {
    const profile = await tf.profile(() => {
      const { embedding, features } = encoder.encode(image);
      tf.dispose([embedding, ...Object.values(features)]);
    });
    let flops = 0;
    for (const k of profile.kernels) {
      const out = (k.outputShapes[0] ?? []) as number[];
      const outSize = out.reduce((a, b) => a * b, 1);
      const filter = (k.inputShapes[1] ?? []) as number[];
      if (k.name === 'Conv2D' || k.name === 'FusedConv2D') {
        flops += 2 * outSize * filter[0]! * filter[1]! * filter[2]!;
      } else if (k.name === 'DepthwiseConv2dNative' || k.name === 'FusedDepthwiseConv2D') {
        flops += 2 * outSize * filter[0]! * filter[1]!;
      } else if (k.name === 'BatchMatMul' || k.name === '_FusedMatMul') {
        // Encoders' forward matrix products (dense layers) are never transposed: [M, K]·[K, N].
        const a = (k.inputShapes[0] ?? []) as number[];
        flops += 2 * outSize * a[a.length - 1]!;
      }
    }
    return flops / 1e9;
  } finally {
    image.dispose();
  }
}

/** Random 0..1 images, as preprocessing would give them. */
export function randomImages(count: number, size: number, seed = 1): tf.Tensor4D {
  return tf.randomUniform([count, size, size, 3], 0, 1, 'float32', seed) as tf.Tensor4D;
}
