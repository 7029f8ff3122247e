// The one-class detector's learned part (on by default in retrain and eval; `--defect-head off`):
// a small MLP on patch features, trained per type to tell the type's good patches from the same
// images with defects painted in (synthetic-defects.ts). It is DRAEM's idea (a discriminator
// trained on synthetic anomalies made from the type's own good images) on the frozen encoder's
// features rather than on pixels, so it trains in seconds on a CPU. A patch's score becomes its
// memory-bank distance plus weight × scale × the head's P(defect), where the scale is measured on
// held-out good images (DefectHead.scale).
//
// On the real dev types (EVALUATION.md, Defect head): kolektor 0.903 → 0.912, poly 0.864 →
// 0.867, mono 0.945 → 0.949, casting left out by its own check. At a fixed weight of 0.5 it had
// lowered poly and kolektor. SimpleNet's variant (a discriminator against Gaussian-perturbed good
// features) fell below the memory bank alone (casting 0.89 vs 0.93, poly 0.86 vs 0.89).
import * as tf from '@tensorflow/tfjs';
import { CancelledError } from '../../../shared/errors.js';
import { Rng } from '../../../shared/random.js';
import { auroc } from '../../metrics.js';
import { paintDefects } from '../../synthetic-defects.js';
import { PatchSample } from './patch-sample.js';

export interface DefectHeadConfig {
  /**
   * What the head's P(defect) adds to a patch's distance, in units of the spread ratio measured
   * on the held-out good images (DefectHead.scale): 1 weighs the two alike.
   */
  weight: number;
  hidden: number;
  steps: number;
  /** Std of the Gaussian noise added to the standardised features in training. */
  noise: number;
}

/** The setting measured on the real dev types (EVALUATION.md, Defect head). */
export const defaultDefectHeadConfig: DefectHeadConfig = {
  weight: 1,
  hidden: 128,
  steps: 600,
  noise: 0.3,
};

const BATCH = 2048;
const LEARNING_RATE = 1e-3;
/** A painted image's patch is a defect example when the paint covers this much of it. */
const POSITIVE_COVER = 0.2;
/** Rows each sample keeps (a uniform sample, PatchSample): 100,000 × 40–120 channels ≤ 48 MB. */
const NEGATIVE_ROWS = 100_000;
const POSITIVE_ROWS = 50_000;
/** Every HELD_OUT-th image's patches are kept out of training, to judge the trained head. */
const HELD_OUT = 10;
/** Held-out images whose good patches are kept whole, for the spread of image scores. */
const HELD_IMAGES = 32;

/**
 * The patches the head learns from, gathered while the detector fits: every good patch, the
 * painted images' untouched patches (negatives), and the patches the paint covers (positives).
 */
export class HeadSamples {
  readonly negatives: PatchSample;
  readonly positives: PatchSample;
  /** The same from every HELD_OUT-th image, never trained on. */
  readonly heldNegatives: PatchSample;
  readonly heldPositives: PatchSample;
  /** Good patch features [P, C] of up to HELD_IMAGES held-out images, whole. */
  readonly heldImages: tf.Tensor2D[] = [];
  private readonly rng: Rng;
  private painted = 0;

  constructor(seed: number) {
    this.negatives = new PatchSample(seed + 11, NEGATIVE_ROWS, 0);
    this.positives = new PatchSample(seed + 12, POSITIVE_ROWS, 0);
    this.heldNegatives = new PatchSample(seed + 15, NEGATIVE_ROWS / HELD_OUT, 0);
    this.heldPositives = new PatchSample(seed + 16, POSITIVE_ROWS / HELD_OUT, 0);
    this.rng = Rng.derive(seed, 13);
  }

  /**
   * Takes a batch of good images [B, H, W, 3] and their patch features [B, P, C]; paints one
   * defect into each and encodes it with `features` (the detector's own feature function).
   */
  async add(
    images: tf.Tensor4D,
    goodFeatures: tf.Tensor3D,
    features: (images: tf.Tensor4D) => tf.Tensor4D,
  ): Promise<void> {
    const [count, patches] = goodFeatures.shape;
    const painted = paintDefects(images, this.rng, this.painted);
    const [flat, cover] = tf.tidy(() => {
      const f = features(painted);
      const [, h, w, c] = f.shape;
      return [f.reshape([-1, c]) as tf.Tensor2D, paintedCover(images, painted, [h, w])];
    });
    painted.dispose();
    try {
      const shares = await cover.data();
      // Each image goes to training or, every HELD_OUT-th, to the held-out check as a whole.
      for (let i = 0; i < count; i++, this.painted++) {
        const held = this.painted % HELD_OUT === HELD_OUT - 1;
        const [negatives, positives] = held
          ? [this.heldNegatives, this.heldPositives]
          : [this.negatives, this.positives];
        const pos: number[] = [];
        const neg: number[] = [];
        for (let k = i * patches; k < (i + 1) * patches; k++) {
          if (shares[k]! > POSITIVE_COVER) pos.push(k);
          else if (shares[k] === 0) neg.push(k);
        }
        const good = tf.tidy(() => goodFeatures.slice([i], [1]));
        try {
          await negatives.add(good);
          if (held && this.heldImages.length < HELD_IMAGES)
            this.heldImages.push(tf.tidy(() => good.squeeze([0]) as tf.Tensor2D));
        } finally {
          good.dispose();
        }
        for (const [rows, sample] of [
          [pos, positives],
          [neg, negatives],
        ] as const) {
          if (rows.length === 0) continue;
          const picked = tf.tidy(() => tf.gather(flat, rows).expandDims(0) as tf.Tensor3D);
          try {
            await sample.add(picked);
          } finally {
            picked.dispose();
          }
        }
      }
    } finally {
      tf.dispose([flat, cover]);
    }
  }

  dispose(): void {
    for (const sample of [this.negatives, this.positives, this.heldNegatives, this.heldPositives])
      sample.dispose();
    tf.dispose(this.heldImages);
    this.heldImages.length = 0;
  }
}

/** Share of each patch cell [B·h·w] that the paint changed. */
function paintedCover(
  clean: tf.Tensor4D,
  painted: tf.Tensor4D,
  [h, w]: [number, number],
): tf.Tensor1D {
  return tf.tidy(() => {
    const [, height, width] = clean.shape;
    const changed = tf.abs(tf.sub(painted, clean)).max(3, true).greater(0.01).toFloat();
    const pool: [number, number] = [
      Math.max(1, Math.floor(height / h)),
      Math.max(1, Math.floor(width / w)),
    ];
    let cells = tf.avgPool(changed as tf.Tensor4D, pool, pool, 'valid');
    if (cells.shape[1] !== h || cells.shape[2] !== w)
      cells = tf.image.resizeBilinear(cells, [h, w]);
    return cells.reshape([-1]) as tf.Tensor1D;
  });
}

/** A trainable variable from `initial`, which it disposes (a variable is a tensor of its own). */
function variable(initial: tf.Tensor): tf.Variable {
  try {
    return tf.variable(initial);
  } finally {
    initial.dispose();
  }
}

/** Layout of the saved weights, in this order in one float file. */
const parts = (channels: number, hidden: number): [string, number[]][] => [
  ['mean', [channels]],
  ['std', [channels]],
  ['w1', [channels, hidden]],
  ['b1', [hidden]],
  ['w2', [hidden, 1]],
  ['b2', [1]],
];

export class DefectHead {
  /** Patch AUROC on the held-out images' painted vs good patches; null when none were held out. */
  heldOutAuroc: number | null = null;
  /**
   * The spread of the bank's image scores over the spread of the head's, on held-out good images:
   * P(defect) × scale × weight is added to a patch's distance, so a head whose scores wander on
   * good parts weighs less. A fixed weight of 0.5 cost elpv-poly 0.017 (EVALUATION.md).
   */
  scale = 0;

  private constructor(private readonly tensors: Record<string, tf.Tensor>) {}

  get channels(): number {
    return this.tensors.mean!.shape[0]!;
  }

  get hidden(): number {
    return this.tensors.b1!.shape[0]!;
  }

  /**
   * Trains on the gathered samples (balanced batches); the caller disposes `samples`. Null when
   * no painted defect covered a patch (images a few cells across), so there is nothing to learn.
   */
  static async train(
    samples: HeadSamples,
    config: DefectHeadConfig,
    options: {
      seed: number;
      signal?: AbortSignal;
      onProgress?: (done: number, total: number, message?: string) => void;
    },
  ): Promise<DefectHead | null> {
    if (samples.positives.size === 0 || samples.negatives.size === 0) return null;
    const negatives = samples.negatives.rowsTensor();
    const positives = samples.positives.rowsTensor();
    const channels = negatives.shape[1];
    const { mean, variance } = tf.moments(negatives, 0);
    const std = tf.tidy(() => tf.sqrt(variance).add(1e-6));
    variance.dispose();
    const [neg, pos] = tf.tidy(() => [
      tf.div(tf.sub(negatives, mean), std) as tf.Tensor2D,
      tf.div(tf.sub(positives, mean), std) as tf.Tensor2D,
    ]);
    tf.dispose([negatives, positives]);
    const { hidden } = config;
    const w1 = variable(
      tf.randomNormal([channels, hidden], 0, Math.sqrt(2 / channels), 'float32', options.seed + 1),
    );
    const b1 = variable(tf.zeros([hidden]));
    const w2 = variable(
      tf.randomNormal([hidden, 1], 0, Math.sqrt(1 / hidden), 'float32', options.seed + 2),
    );
    const b2 = variable(tf.zeros([1]));
    const head = new DefectHead({ mean, std, w1, b1, w2, b2 });
    const optimizer = tf.train.adam(LEARNING_RATE);
    const rng = Rng.derive(options.seed, 14);
    const half = BATCH / 2;
    const labels = tf.tidy(() => tf.concat([tf.ones([half]), tf.zeros([half])]));
    try {
      for (let step = 0; step < config.steps; step++) {
        if (options.signal?.aborted) throw new CancelledError('Fitting was cancelled.');
        const pick = (rows: number) =>
          tf.tensor1d(
            Array.from({ length: half }, () => rng.int(rows)),
            'int32',
          );
        const [pi, ni] = [pick(pos.shape[0]), pick(neg.shape[0])];
        const loss = optimizer.minimize(
          () => {
            const x = tf.concat([tf.gather(pos, pi), tf.gather(neg, ni)]) as tf.Tensor2D;
            const noisy = tf.add(
              x,
              tf.randomNormal(x.shape, 0, config.noise, 'float32', options.seed + 100 + step),
            ) as tf.Tensor2D;
            return tf.losses.sigmoidCrossEntropy(labels, head.logits(noisy)) as tf.Scalar;
          },
          false,
          [w1, b1, w2, b2],
        );
        tf.dispose([loss ?? [], pi, ni]);
        if (step % 50 === 49 || step === config.steps - 1) {
          options.onProgress?.(step + 1, config.steps, 'training the defect head');
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      head.heldOutAuroc = await head.separation(samples.heldPositives, samples.heldNegatives);
      return head;
    } catch (error) {
      head.dispose();
      throw error;
    } finally {
      optimizer.dispose();
      tf.dispose([neg, pos, labels]);
    }
  }

  private logits(standardised: tf.Tensor2D): tf.Tensor1D {
    const { w1, b1, w2, b2 } = this.tensors as Record<string, tf.Tensor2D>;
    return tf.tidy(
      () =>
        tf
          .leakyRelu(tf.add(tf.matMul(standardised, w1!), b1!), 0.2)
          .matMul(w2!)
          .add(b2!)
          .reshape([-1]) as tf.Tensor1D,
    );
  }

  /** Patch AUROC of P(defect) on painted vs good rows; null without both. */
  private async separation(positives: PatchSample, negatives: PatchSample): Promise<number | null> {
    if (positives.size === 0 || negatives.size === 0) return null;
    const scores: number[] = [];
    for (const sample of [positives, negatives]) {
      const rows = sample.rowsTensor();
      const p = this.probabilities(rows);
      scores.push(...(await p.data()));
      tf.dispose([rows, p]);
    }
    return auroc(scores, [
      ...new Array<number>(positives.size).fill(1),
      ...new Array<number>(negatives.size).fill(0),
    ]);
  }

  /** P(defect) of each row of patch features [N, C]. */
  probabilities(features: tf.Tensor2D): tf.Tensor1D {
    const { mean, std } = this.tensors;
    return tf.tidy(() =>
      tf.sigmoid(this.logits(tf.div(tf.sub(features, mean!), std!) as tf.Tensor2D)),
    );
  }

  /** All weights as one float tensor, in `parts` order (the caller disposes it). */
  flat(): tf.Tensor1D {
    return tf.tidy(() =>
      tf.concat(parts(this.channels, this.hidden).map(([name]) => this.tensors[name]!.flatten())),
    );
  }

  static floatCount(channels: number, hidden: number): number {
    return parts(channels, hidden).reduce((n, [, shape]) => n + shape.reduce((a, b) => a * b), 0);
  }

  static fromFloats(values: Float32Array, channels: number, hidden: number): DefectHead {
    const tensors: Record<string, tf.Tensor> = {};
    let offset = 0;
    for (const [name, shape] of parts(channels, hidden)) {
      const size = shape.reduce((a, b) => a * b);
      tensors[name] = tf.tensor(values.subarray(offset, offset + size), shape);
      offset += size;
    }
    return new DefectHead(tensors);
  }

  dispose(): void {
    tf.dispose(Object.values(this.tensors));
  }
}
