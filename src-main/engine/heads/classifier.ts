// The seed's downstream task: dense layers on an encoder's embedding → P(defect), trained with
// class-weighted binary cross-entropy and Adam, the encoder frozen or fine-tuned. With the VGG-16
// encoder fine-tuned end to end it is also the seed's baseline.
import * as tf from '@tensorflow/tfjs';
import {
  BadArgumentError,
  CancelledError,
  ModelError,
  type ImageError,
} from '../../shared/errors.js';
import { Rng } from '../../shared/random.js';
import { augmentBatch, noAugmentation, type AugmentOptions } from '../augment.js';
import type { Encoder } from '../encoders/encoder.js';
import { decodedBatches } from '../decoded-batches.js';
import {
  ImageBatchLoader,
  batchTensor,
  prefetchBatches,
  type DecodedBatch,
} from '../image-batches.js';
import { checkTrainingBatch, imagesPerPass } from '../memory-plan.js';
import { atThreshold, auroc } from '../metrics.js';
import { calibrate, type Calibration } from '../threshold.js';
import { takeScalar } from '../readback.js';

export interface LabeledImage {
  path: string;
  defect: boolean;
}

export interface ClassifierConfig {
  train: LabeledImage[];
  validation: LabeledImage[];
  epochs: number;
  batchSize: number;
  /** Side the images are resized to for the encoder, in pixels. */
  inputSize: number;
  /** Adam's learning rate; the seed used 1e-4. */
  learningRate: number;
  /** Units of the hidden dense layers; one more dense layer gives the defect logit. */
  hiddenUnits: number[];
  /** Update the encoder too (fine-tuning), or keep it frozen and train the head only. */
  fineTuneEncoder: boolean;
  /** Weigh each class by N / (2 · its count), so the majority (usually good) does not dominate. */
  balanceClasses: boolean;
  /** Random flips and quarter turns while fine-tuning: a defect stays a defect when turned. */
  augment: boolean;
  seed: number;
}

/** The seed's settings: Adam 1e-4, two hidden layers + the output (three dense layers). */
export function classifierConfig(
  train: LabeledImage[],
  validation: LabeledImage[],
  overrides: Partial<Omit<ClassifierConfig, 'train' | 'validation'>> = {},
): ClassifierConfig {
  return {
    train,
    validation,
    epochs: 10,
    batchSize: 32,
    inputSize: 128,
    learningRate: 1e-4,
    hiddenUnits: [256, 64],
    fineTuneEncoder: false,
    balanceClasses: true,
    augment: true,
    seed: 1,
    ...overrides,
  };
}

export interface EpochMetrics {
  epoch: number;
  /** Mean weighted cross-entropy over the epoch's training batches. */
  trainLoss: number;
  /** Unweighted cross-entropy on the validation images. */
  validationLoss: number;
  /** At P(defect) ≥ 0.5. */
  accuracy: number;
  balancedAccuracy: number;
  f1: number;
  precision: number;
  recall: number;
  /** Null when the validation images hold one class only. */
  auroc: number | null;
}

export type ClassifierPhase = 'embedding' | 'training';

/** Same shape as SimCLR's progress, plus what is being done (embedding only when frozen). */
export type ClassifierProgress = (
  step: number,
  totalSteps: number,
  loss: number,
  imagesPerSecond: number,
  etaSeconds: number,
  phase: ClassifierPhase,
) => void;

export interface ClassifierRun {
  /** Frozen or fine-tuned in place; the caller keeps ownership. */
  encoder: Encoder;
  config: ClassifierConfig;
  signal?: AbortSignal;
  onProgress?: ClassifierProgress;
  onEpoch?: (metrics: EpochMetrics) => void;
  onImageError?: (error: ImageError) => void;
}

export interface ClassifierResult {
  /** Embedding → defect logit. The caller owns it (save it with model-files, then dispose). */
  head: tf.LayersModel;
  epochs: EpochMetrics[];
  classWeights: { good: number; defect: number };
  /** P(defect) and labels (1 = defect) of the validation images after the last epoch. */
  validation: { scores: number[]; labels: number[] };
  failedImages: ImageError[];
}

// Rng.derive stream ids.
const SHUFFLE_STREAM = 1;
const AUGMENT_STREAM = 2;

/**
 * Batch norm first: embeddings come at whatever scale and offset the encoder produces (a random,
 * SimCLR-trained or ImageNet one), and centring them keeps the ReLUs behind it from starting
 * dead for a whole class. Then the hidden dense layers and one logit.
 */
export function createClassifierHead(
  embeddingSize: number,
  hiddenUnits: number[],
  seed: number,
): tf.Sequential {
  const layers: tf.layers.Layer[] = [
    // Momentum 0.9: the moving statistics must settle within the few hundred steps of a run.
    tf.layers.batchNormalization({
      inputShape: [embeddingSize],
      momentum: 0.9,
      name: 'embedding_norm',
    }),
  ];
  hiddenUnits.forEach((units, i) =>
    layers.push(
      tf.layers.dense({
        units,
        activation: 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 13 + i }),
        name: `defect_hidden${i + 1}`,
      }),
    ),
  );
  layers.push(
    tf.layers.dense({
      units: 1,
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 13 + 99 }),
      name: 'defect_logit',
    }),
  );
  return tf.sequential({ name: 'defect_classifier', layers });
}

/**
 * Starts the head's moving statistics at the training embeddings' own, so validation in the
 * first epochs is not judged through statistics that are still mostly their initial 0 and 1.
 */
function startNormalisationFrom(head: tf.LayersModel, embeddings: tf.Tensor2D): void {
  if (embeddings.shape[0] < 2) return;
  const norm = head.getLayer('embedding_norm');
  tf.tidy(() => {
    const { mean, variance } = tf.moments(embeddings, 0);
    const [gamma, beta] = norm.getWeights();
    norm.setWeights([gamma!, beta!, mean, variance]);
  });
}

/** P(defect) for each image [B, H, W, 3] in 0..1; the caller owns the result. */
export function predictDefect(
  encoder: Encoder,
  head: tf.LayersModel,
  images: tf.Tensor4D,
): tf.Tensor1D {
  return tf.tidy(() => {
    const embedding = embed(encoder, images);
    return tf.sigmoid(tf.reshape(head.apply(embedding) as tf.Tensor2D, [-1])) as tf.Tensor1D;
  });
}

/** The embeddings [B, D] of `images` in inference mode, encoded in passes that fit the backend. */
function embed(encoder: Encoder, images: tf.Tensor4D): tf.Tensor2D {
  const [count, height, width] = images.shape;
  // The probe runs this function on 1 and 2 images, which imagesPerPass never probes again.
  const perPass = imagesPerPass({
    owner: encoder,
    key: `embedding ${height}x${width}`,
    count,
    step: (batch) => embed(encoder, tf.zeros([batch, height, width, 3])),
    what: `embedding one ${width}×${height} px image`,
  });
  return tf.tidy(() => {
    const parts: tf.Tensor2D[] = [];
    for (let start = 0; start < count; start += perPass) {
      const slice =
        count <= perPass ? images : images.slice([start], [Math.min(perPass, count - start)]);
      parts.push(encoder.encode(slice).embedding);
    }
    return parts.length === 1 ? parts[0]! : (tf.concat(parts) as tf.Tensor2D);
  });
}

/**
 * The class-weighted cross-entropy of one training batch: `x` is embeddings [B, D] (frozen
 * encoder) or images [B, H, W, 3] the encoder embeds in training mode (fine-tuning).
 */
function batchLoss(
  encoder: Encoder,
  head: tf.LayersModel,
  x: tf.Tensor2D | tf.Tensor4D,
  labels: number[],
  weights: { good: number; defect: number },
): tf.Scalar {
  const target = tf.tensor2d(labels, [labels.length, 1]);
  const sampleWeights = tf.tensor2d(
    labels.map((l) => (l === 1 ? weights.defect : weights.good)),
    [labels.length, 1],
  );
  const embedding =
    x.rank === 2
      ? (x as tf.Tensor2D)
      : encoder.encode(x as tf.Tensor4D, { training: true }).embedding;
  const logits = head.apply(embedding, { training: true }) as tf.Tensor2D;
  return tf.losses.sigmoidCrossEntropy(target, logits, sampleWeights) as tf.Scalar;
}

function validate(config: ClassifierConfig, encoder: Encoder): void {
  const whole = (n: number, min: number) => Number.isInteger(n) && n >= min;
  if (!whole(config.epochs, 1)) throw new BadArgumentError('epochs must be a whole number ≥ 1.');
  if (!whole(config.batchSize, 2)) throw new BadArgumentError('batch size must be at least 2.');
  if (!whole(config.inputSize, 8)) throw new BadArgumentError('input size must be at least 8 px.');
  const defects = config.train.filter((i) => i.defect).length;
  if (defects === 0 || defects === config.train.length) {
    throw new BadArgumentError(
      `The classifier needs good and defective training images; got ${config.train.length - defects} good and ${defects} defective. Label some of the missing kind first.`,
    );
  }
  if (config.validation.length === 0) {
    throw new BadArgumentError('The classifier needs validation images to report its accuracy.');
  }
  if (config.fineTuneEncoder && encoder.trainableVariables().length === 0) {
    throw new BadArgumentError(
      `The ${encoder.info.kind} encoder cannot be fine-tuned (it has no trainable weights); train with it frozen.`,
    );
  }
}

function classWeights(config: ClassifierConfig): { good: number; defect: number } {
  if (!config.balanceClasses) return { good: 1, defect: 1 };
  const n = config.train.length;
  const defects = config.train.filter((i) => i.defect).length;
  return { good: n / (2 * (n - defects)), defect: n / (2 * defects) };
}

function fineTuneAugmentations(size: number): AugmentOptions {
  return { ...noAugmentation(size), flipHorizontal: 0.5, flipVertical: 0.5, rotate90: true };
}

/** Keeps the training rows whose images decoded, in batch order. */
function decodedItems(batch: DecodedBatch, items: readonly LabeledImage[]): LabeledImage[] {
  const byPath = new Map(items.map((item) => [item.path, item]));
  return batch.paths.map((path) => byPath.get(path)!);
}

class Stopwatch {
  private last = performance.now();
  private mean: number | undefined;
  /** Seconds of the step just done, smoothed over ~10 steps. */
  lap(): number {
    const now = performance.now();
    const seconds = (now - this.last) / 1000;
    this.last = now;
    this.mean = this.mean === undefined ? seconds : 0.9 * this.mean + 0.1 * seconds;
    return this.mean;
  }
}

/**
 * Refuses a fine-tuning run whose step (decode size images through the encoder in training mode,
 * the head and its gradients) would not fit the backend's memory, before any image is decoded.
 * Training on stored embeddings needs no check: the head is small.
 */
function checkFineTuneBatch(
  encoder: Encoder,
  head: tf.LayersModel,
  config: ClassifierConfig,
  weights: { good: number; defect: number },
  variables: tf.Variable[],
): void {
  const size = config.inputSize;
  const batchSize = Math.min(config.batchSize, config.train.length);
  checkTrainingBatch({
    owner: head,
    key: `fine-tune ${size}`,
    batchSize,
    loss: (batch) => {
      const zeros = tf.zeros([batch, size, size, 3]) as tf.Tensor4D;
      const images = config.augment
        ? augmentBatch(zeros, new Rng(config.seed), fineTuneAugmentations(size))
        : zeros;
      const labels = Array.from({ length: batch }, (_, i) => i % 2);
      return batchLoss(encoder, head, images, labels, weights);
    },
    variables,
    // Adam's two moments per weight, made at the first update.
    optimizerBytes: 2 * variables.reduce((sum, v) => sum + 4 * v.size, 0),
    what: `a fine-tuning step of ${batchSize} images at ${size} px (${encoder.info.kind} encoder)`,
    smallest: 2,
  });
}

/**
 * Trains a defect classifier on `run.encoder`'s embeddings and reports validation metrics after
 * every epoch. Frozen: each image is embedded once, then the head trains on the stored
 * embeddings. Fine-tuned: every step decodes, augments and encodes its batch (the next batch is
 * decoded meanwhile) and updates encoder and head. Leaves no tensors behind but the head.
 */
export async function trainClassifier(run: ClassifierRun): Promise<ClassifierResult> {
  const { encoder, config } = run;
  validate(config, encoder);
  const weights = classWeights(config);
  const failed = new Map<string, ImageError>();
  // Validation is decoded again every epoch; each unreadable file is reported once.
  const reportOnce = (failure: ImageError) => {
    if (failed.has(failure.path)) return;
    failed.set(failure.path, failure);
    run.onImageError?.(failure);
  };
  const checkCancelled = (what: string) => {
    if (run.signal?.aborted) throw new CancelledError(`Classifier training stopped ${what}.`);
  };

  const head = createClassifierHead(encoder.info.embeddingSize, config.hiddenUnits, config.seed);
  const optimizer = tf.train.adam(config.learningRate);
  const loader = new ImageBatchLoader(config.inputSize);
  const kept: tf.Tensor[] = [];
  try {
    const variables = [
      ...(config.fineTuneEncoder ? encoder.trainableVariables() : []),
      ...head.trainableWeights.map((w) => w.read() as tf.Variable),
    ];
    if (config.fineTuneEncoder) checkFineTuneBatch(encoder, head, config, weights, variables);
    const stepsPerEpoch = Math.max(1, Math.floor(config.train.length / config.batchSize));
    const batchesOf = (items: readonly LabeledImage[]) =>
      Math.ceil(items.length / config.batchSize);
    const embeddingSteps = config.fineTuneEncoder
      ? 0
      : batchesOf(config.train) + batchesOf(config.validation);
    const totalSteps = embeddingSteps + config.epochs * stepsPerEpoch;
    let step = 0;
    const clock = new Stopwatch();
    const tick = (images: number, loss: number, phase: ClassifierPhase) => {
      step++;
      const seconds = clock.lap();
      run.onProgress?.(
        step,
        totalSteps,
        loss,
        images / Math.max(seconds, 1e-6),
        (totalSteps - step) * seconds,
        phase,
      );
    };

    /** Embeds `items` in batches (frozen encoder, inference mode); keeps rows that decoded. */
    /** Decodes `items` in consecutive batches (one ahead), with 1 = defect for those that decoded. */
    async function* labeledBatches(items: readonly LabeledImage[]) {
      const defect = new Map(items.map((i) => [i.path, i.defect ? 1 : 0]));
      for await (const { images, paths } of decodedBatches(
        items.map((i) => i.path),
        config.inputSize,
        { batchSize: config.batchSize, loader, onFailure: reportOnce },
      )) {
        yield { images, labels: paths.map((p) => defect.get(p)!) };
      }
    }

    /** Embeds `items` with the frozen encoder (inference mode); keeps the rows that decoded. */
    const embedAll = async (items: readonly LabeledImage[]) => {
      const parts: tf.Tensor2D[] = [];
      const labels: number[] = [];
      try {
        for await (const batch of labeledBatches(items)) {
          checkCancelled('while embedding images');
          parts.push(embed(encoder, batch.images));
          labels.push(...batch.labels);
          tick(batch.labels.length, Number.NaN, 'embedding');
          await new Promise((resolve) => setImmediate(resolve));
        }
        const embeddings =
          parts.length > 0
            ? (tf.concat(parts) as tf.Tensor2D)
            : tf.zeros([0, encoder.info.embeddingSize]);
        return { embeddings: embeddings as tf.Tensor2D, labels };
      } finally {
        tf.dispose(parts);
      }
    };

    /** Scores the validation images: from stored embeddings, or by decoding them again. */
    let validationStore: { embeddings: tf.Tensor2D; labels: number[] } | undefined;
    const scoreValidation = async (): Promise<{ scores: number[]; labels: number[] }> => {
      if (validationStore) {
        const probabilities = tf.tidy(() =>
          tf.sigmoid(head.apply(validationStore!.embeddings) as tf.Tensor2D),
        );
        const scores = Array.from(await probabilities.data());
        probabilities.dispose();
        return { scores, labels: validationStore.labels };
      }
      const scores: number[] = [];
      const labels: number[] = [];
      for await (const batch of labeledBatches(config.validation)) {
        checkCancelled('while validating');
        const probabilities = predictDefect(encoder, head, batch.images);
        scores.push(...(await probabilities.data()));
        probabilities.dispose();
        labels.push(...batch.labels);
      }
      return { scores, labels };
    };

    let trainStore: { embeddings: tf.Tensor2D; labels: number[] } | undefined;
    if (!config.fineTuneEncoder) {
      trainStore = await embedAll(config.train);
      kept.push(trainStore.embeddings);
      startNormalisationFrom(head, trainStore.embeddings);
      validationStore = await embedAll(config.validation);
      kept.push(validationStore.embeddings);
    }

    const epochs: EpochMetrics[] = [];
    let validation = { scores: [] as number[], labels: [] as number[] };
    for (let epoch = 0; epoch < config.epochs; epoch++) {
      const count = trainStore ? trainStore.labels.length : config.train.length;
      const order = Rng.derive(config.seed, SHUFFLE_STREAM, epoch).shuffle(
        Array.from({ length: count }, (_, i) => i),
      );
      const batchRows = (b: number) =>
        order.slice(b * config.batchSize, (b + 1) * config.batchSize);
      let lossSum = 0;
      let lossCount = 0;

      const trainOn = async (
        inputs: () => tf.Tensor2D | tf.Tensor4D,
        labels: number[],
        images: number,
      ): Promise<void> => {
        const loss = await takeScalar(
          tf.tidy(() => {
            const x = inputs();
            return optimizer.minimize(
              () => batchLoss(encoder, head, x, labels, weights),
              true,
              variables,
            )!;
          }),
        );
        if (!Number.isFinite(loss)) {
          throw new ModelError(
            `Classifier training diverged in epoch ${epoch + 1} (loss ${loss}). Lower the learning rate.`,
          );
        }
        lossSum += loss;
        lossCount++;
        tick(images, loss, 'training');
      };

      if (trainStore) {
        for (let b = 0; b < stepsPerEpoch; b++) {
          checkCancelled(`in epoch ${epoch + 1}`);
          const rows = batchRows(b);
          // Fewer rows than planned only when training images failed to decode.
          if (rows.length === 0) continue;
          const labels = rows.map((r) => trainStore!.labels[r]!);
          await trainOn(() => tf.gather(trainStore!.embeddings, rows), labels, rows.length);
          await new Promise((resolve) => setImmediate(resolve));
        }
      } else {
        const items = config.train;
        let b = 0;
        for await (const batch of prefetchBatches(loader, stepsPerEpoch, (i) =>
          batchRows(i).map((r) => items[r]!.path),
        )) {
          checkCancelled(`in epoch ${epoch + 1}`);
          batch.failures.forEach(reportOnce);
          const rng = Rng.derive(config.seed, AUGMENT_STREAM, epoch * stepsPerEpoch + b++);
          // Batch norm in training mode needs at least two images.
          if (batch.paths.length >= 2) {
            const labels = decodedItems(batch, items).map((i) => (i.defect ? 1 : 0));
            await trainOn(
              () => {
                const images = batchTensor(batch);
                return config.augment
                  ? augmentBatch(images, rng, fineTuneAugmentations(config.inputSize))
                  : images;
              },
              labels,
              batch.paths.length,
            );
          }
          await new Promise((resolve) => setImmediate(resolve));
        }
      }

      validation = await scoreValidation();
      const metrics = epochMetrics(epoch + 1, lossSum / Math.max(lossCount, 1), validation);
      epochs.push(metrics);
      run.onEpoch?.(metrics);
    }
    return {
      head,
      epochs,
      classWeights: weights,
      validation,
      failedImages: [...failed.values()],
    };
  } catch (error) {
    head.dispose();
    throw error;
  } finally {
    tf.dispose(kept);
    optimizer.dispose();
    await loader.close();
  }
}

function epochMetrics(
  epoch: number,
  trainLoss: number,
  validation: { scores: number[]; labels: number[] },
): EpochMetrics {
  const { scores, labels } = validation;
  const at = atThreshold(scores, labels, 0.5);
  let crossEntropy = 0;
  for (let i = 0; i < scores.length; i++) {
    const p = Math.min(1 - 1e-7, Math.max(1e-7, scores[i]!));
    crossEntropy -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  const defects = labels.filter((l) => l === 1).length;
  return {
    epoch,
    trainLoss,
    validationLoss: crossEntropy / Math.max(scores.length, 1),
    accuracy: at.accuracy,
    balancedAccuracy: at.balancedAccuracy,
    f1: at.f1,
    precision: at.precision,
    recall: at.recall,
    auroc: defects > 0 && defects < labels.length ? auroc(scores, labels) : null,
  };
}

/** One line per epoch for the training log. */
export function describeEpoch(m: EpochMetrics, epochs: number): string {
  return (
    `epoch ${m.epoch}/${epochs}: train loss ${m.trainLoss.toFixed(3)}, validation loss ${m.validationLoss.toFixed(3)}, ` +
    `accuracy ${m.accuracy.toFixed(3)}, balanced ${m.balancedAccuracy.toFixed(3)}, F1 ${m.f1.toFixed(3)}` +
    (m.auroc === null ? '' : `, AUROC ${m.auroc.toFixed(3)}`)
  );
}

/**
 * What a trained head records in its model manifest (metrics, the threshold calibrated on the
 * validation images, the settings it ran with) and the line that sums it up.
 */
export function classifierRecord(
  result: ClassifierResult,
  config: ClassifierConfig,
  run: { method: string; encoder: string; objectTypes: string[] },
) {
  const last = result.epochs.at(-1)!;
  let threshold: Calibration | undefined;
  try {
    threshold = calibrate(result.validation.scores, result.validation.labels);
  } catch {
    // Validation images of one class only: the model then has no calibrated threshold.
    threshold = undefined;
  }
  return {
    metrics: {
      validation: last,
      epochs: result.epochs,
      classWeights: result.classWeights,
      trainImages: config.train.length,
      validationImages: config.validation.length,
    },
    threshold,
    training: {
      method: run.method,
      encoder: run.encoder,
      fineTuneEncoder: config.fineTuneEncoder,
      epochs: config.epochs,
      batchSize: config.batchSize,
      learningRate: config.learningRate,
      hiddenUnits: config.hiddenUnits,
      seed: config.seed,
    },
    summary:
      `${run.method} on ${run.objectTypes.join(', ')}: validation accuracy ${last.accuracy.toFixed(3)}, ` +
      `balanced accuracy ${last.balancedAccuracy.toFixed(3)}, F1 ${last.f1.toFixed(3)}` +
      (last.auroc === null ? '' : `, AUROC ${last.auroc.toFixed(3)}`) +
      ` after ${result.epochs.length} epochs`,
  };
}
