// SimCLR pretraining (Chen et al. 2020; the seed paper's pretraining): two random views of each
// unlabeled image, encoder + two-layer projection head, NT-Xent loss, Adam. Checkpoints hold
// everything needed to resume the run exactly where it stopped.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  BadArgumentError,
  CancelledError,
  ModelError,
  errorMessage,
  type ImageError,
} from '../../shared/errors.js';
import { Rng } from '../../shared/random.js';
import {
  augmentBatch,
  cutPaste,
  defaultCutPaste,
  simclrAugmentations,
  type AugmentOptions,
} from '../augment.js';
import type { Encoder, EncoderInfo } from '../encoders/encoder.js';
import { ImageBatchLoader, batchTensor, prefetchBatches } from '../image-batches.js';
import { checkTrainingBatch } from '../memory-plan.js';
import { fileLoader, fileSaver, modelJsonPath, writeFolderAtomically } from '../model-io.js';
import { takeScalar } from '../readback.js';

export interface SimclrConfig {
  /** Image files to learn from: any object types, no labels needed. */
  images: string[];
  epochs: number;
  batchSize: number;
  /** Side of the views the encoder sees, in pixels. */
  inputSize: number;
  /** Side the files are decoded at before cropping; larger than inputSize keeps crops sharp. */
  decodeSize: number;
  /** NT-Xent temperature τ. */
  temperature: number;
  learningRate: number;
  projectionHidden: number;
  projectionSize: number;
  /** Weight of the CutPaste "was a patch pasted?" loss; 0 turns that extra task off. */
  cutPasteWeight: number;
  seed: number;
  augment: AugmentOptions;
  /** Write a checkpoint every this many steps (0: only when cancelled). */
  checkpointEvery: number;
}

/**
 * Defaults for a CPU-sized run. τ = 0.5 is SimCLR's best value for batches of a few hundred or
 * fewer (its Table 5 / CIFAR-10 runs); Adam at 1e-3 replaces LARS, which only pays off at the
 * batch sizes of thousands the paper trains with on TPUs.
 */
export function simclrConfig(
  images: string[],
  overrides: Partial<Omit<SimclrConfig, 'images'>> = {},
): SimclrConfig {
  const inputSize = overrides.inputSize ?? 128;
  return {
    images,
    epochs: 10,
    batchSize: 32,
    inputSize,
    decodeSize: Math.round(inputSize * 1.5),
    temperature: 0.5,
    learningRate: 1e-3,
    projectionHidden: 256,
    projectionSize: 128,
    cutPasteWeight: 0,
    seed: 1,
    checkpointEvery: 0,
    ...overrides,
    augment: overrides.augment ?? simclrAugmentations(inputSize),
  };
}

/** step: steps done so far (1-based after the first); imagesPerSecond counts source images. */
export type SimclrProgress = (
  step: number,
  totalSteps: number,
  loss: number,
  imagesPerSecond: number,
  etaSeconds: number,
) => void;

export interface SimclrRun {
  /** Trained in place; the caller keeps ownership. On resume: the checkpoint's encoder. */
  encoder: Encoder;
  config: SimclrConfig;
  /** Where checkpoints go (written atomically); omit for no checkpoints. */
  checkpointDir?: string;
  /** Continue a run from a checkpoint (see readSimclrCheckpoint); its config is used. */
  resume?: SimclrCheckpoint;
  signal?: AbortSignal;
  onProgress?: SimclrProgress;
  /** Called once per unreadable file; training carries on without it. */
  onImageError?: (error: ImageError) => void;
  /** The caller's own facts about the run (object types, output folder), kept in checkpoints. */
  notes?: Record<string, unknown>;
}

export interface SimclrResult {
  steps: number;
  /** Mean loss of each step from the first (a resumed run includes the steps before). */
  losses: (number | null)[];
  /** Source images per second over this session. */
  imagesPerSecond: number;
  failedImages: ImageError[];
}

export interface SimclrCheckpoint {
  dir: string;
  /** Steps already done. */
  step: number;
  totalSteps: number;
  config: SimclrConfig;
  losses: (number | null)[];
  encoder: EncoderInfo;
  /** The saved encoder, for the registry's loader. */
  encoderDir: string;
  notes: Record<string, unknown>;
}

interface CheckpointState {
  format: 1;
  kind: 'simclr-checkpoint';
  step: number;
  totalSteps: number;
  config: SimclrConfig;
  /** The random streams are functions of (seed, step): that pair is the whole generator state. */
  rng: { seed: number; step: number };
  losses: (number | null)[];
  encoder: EncoderInfo;
  notes: Record<string, unknown>;
  savedAt: string;
}

const STATE_FILE = 'state.json';
const ENCODER_DIR = 'encoder';
const PROJECTION_DIR = 'projection-head';
const CUTPASTE_DIR = 'cutpaste-head';
const OPTIMIZER_JSON = 'optimizer.json';
const OPTIMIZER_BIN = 'optimizer.bin';
// Stream ids for Rng.derive: one for the epoch shuffles, one for each step's augmentations.
const SHUFFLE_STREAM = 1;
const AUGMENT_STREAM = 2;

/**
 * NT-Xent (normalised temperature-scaled cross entropy) over a batch of N pairs: z1[i] and z2[i]
 * are the projections of two views of image i. Each of the 2N views must pick out its partner
 * among the other 2N − 1; the loss is the mean negative log-probability of doing so.
 */
export function ntXentLoss(z1: tf.Tensor2D, z2: tf.Tensor2D, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    const n = z1.shape[0];
    const z = tf.concat([z1, z2]);
    const unit = tf.mul(z, tf.rsqrt(tf.maximum(tf.sum(tf.square(z), 1, true), 1e-12)));
    const similarity = tf.div(tf.matMul(unit, unit, false, true), temperature);
    // A view is not its own negative: push the diagonal far down instead of removing it, which
    // keeps the matrix square; exp() of it is exactly 0 after logSumExp subtracts the row max.
    const logits = tf.sub(similarity, tf.mul(tf.eye(2 * n), 1e9));
    const logProbabilities = tf.sub(logits, tf.logSumExp(logits, 1, true));
    // View i's partner is i + N (and i − N for the second half).
    const partner = tf.oneHot(
      tf.tensor1d(
        Array.from({ length: 2 * n }, (_, i) => (i + n) % (2 * n)),
        'int32',
      ),
      2 * n,
    );
    return tf.neg(tf.mean(tf.sum(tf.mul(logProbabilities, partner), 1))) as tf.Scalar;
  });
}

function denseInit(seed: number) {
  return tf.initializers.glorotUniform({ seed });
}

/** SimCLR's projection g(·): dense → ReLU → dense. The loss is taken on its output. */
function createProjectionHead(config: SimclrConfig, embeddingSize: number): tf.Sequential {
  return tf.sequential({
    name: 'projection_head',
    layers: [
      tf.layers.dense({
        inputShape: [embeddingSize],
        units: config.projectionHidden,
        activation: 'relu',
        kernelInitializer: denseInit(config.seed * 7 + 1),
        name: 'projection_hidden',
      }),
      tf.layers.dense({
        units: config.projectionSize,
        kernelInitializer: denseInit(config.seed * 7 + 2),
        name: 'projection_out',
      }),
    ],
  });
}

/** One logit: was a patch pasted into this view? (CutPaste, Li et al. 2021.) */
function createCutPasteHead(config: SimclrConfig, embeddingSize: number): tf.Sequential {
  return tf.sequential({
    name: 'cutpaste_head',
    layers: [
      tf.layers.dense({
        inputShape: [embeddingSize],
        units: 1,
        kernelInitializer: denseInit(config.seed * 7 + 3),
        name: 'cutpaste_logit',
      }),
    ],
  });
}

function validateConfig(config: SimclrConfig, encoder: Encoder): void {
  if (config.images.length < 2) {
    throw new BadArgumentError(
      `SimCLR needs at least 2 images (it contrasts images with each other); got ${config.images.length}.`,
    );
  }
  const whole = (n: number, min: number) => Number.isInteger(n) && n >= min;
  if (!whole(config.epochs, 1)) throw new BadArgumentError('epochs must be a whole number ≥ 1.');
  if (!whole(config.batchSize, 2)) throw new BadArgumentError('batch size must be at least 2.');
  if (!whole(config.inputSize, 8) || !whole(config.decodeSize, config.inputSize)) {
    throw new BadArgumentError('the decode size must be at least the input size (≥ 8 px).');
  }
  if (!(config.temperature > 0)) throw new BadArgumentError('temperature must be positive.');
  if (encoder.trainableVariables().length === 0) {
    throw new BadArgumentError(
      `The ${encoder.info.kind} encoder has no trainable weights; SimCLR needs a trainable encoder (resnet or mobilenetv3-trainable).`,
    );
  }
}

/** Steps per epoch: the last partial batch is dropped so every step contrasts a full batch. */
function stepsPerEpoch(config: SimclrConfig): number {
  return Math.floor(config.images.length / Math.min(config.batchSize, config.images.length));
}

/** The files of one step: a seeded shuffle per epoch, cut into batches. */
function batchPaths(config: SimclrConfig, step: number, orders: Map<number, number[]>): string[] {
  const perEpoch = stepsPerEpoch(config);
  const epoch = Math.floor(step / perEpoch);
  let order = orders.get(epoch);
  if (!order) {
    order = Rng.derive(config.seed, SHUFFLE_STREAM, epoch).shuffle(
      Array.from({ length: config.images.length }, (_, i) => i),
    );
    orders.clear();
    orders.set(epoch, order);
  }
  const batch = Math.min(config.batchSize, config.images.length);
  const start = (step % perEpoch) * batch;
  return order.slice(start, start + batch).map((i) => config.images[i]!);
}

/** Reads a checkpoint's state; load its encoder from `encoderDir`, then pass both to trainSimclr. */
export async function readSimclrCheckpoint(dir: string): Promise<SimclrCheckpoint> {
  let state: CheckpointState;
  try {
    state = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as CheckpointState;
  } catch (error) {
    throw new ModelError(
      `${dir} is not a readable SimCLR checkpoint (${errorMessage(error)}). Point --resume at the checkpoint folder a cancelled run left.`,
      { cause: error },
    );
  }
  if (state.kind !== 'simclr-checkpoint' || state.format !== 1) {
    throw new ModelError(`${dir} is not a SimCLR checkpoint this version can resume.`);
  }
  return {
    dir,
    step: state.step,
    totalSteps: state.totalSteps,
    config: state.config,
    losses: state.losses,
    encoder: state.encoder,
    encoderDir: join(dir, ENCODER_DIR),
    notes: state.notes ?? {},
  };
}

interface Trainables {
  encoder: Encoder;
  projection: tf.LayersModel;
  cutPasteHead: tf.LayersModel | undefined;
  optimizer: tf.AdamOptimizer;
  /** Fixed order: the optimizer's moment slots follow it, so save and resume must agree. */
  variables: tf.Variable[];
}

async function writeCheckpoint(
  dir: string,
  t: Trainables,
  config: SimclrConfig,
  step: number,
  totalSteps: number,
  losses: (number | null)[],
  notes: Record<string, unknown>,
): Promise<void> {
  await writeFolderAtomically(dir, async (tmp) => {
    await t.encoder.save(join(tmp, ENCODER_DIR));
    await mkdir(join(tmp, PROJECTION_DIR));
    await t.projection.save(fileSaver(join(tmp, PROJECTION_DIR)));
    if (t.cutPasteHead) {
      await mkdir(join(tmp, CUTPASTE_DIR));
      await t.cutPasteHead.save(fileSaver(join(tmp, CUTPASTE_DIR)));
    }
    const weights = await t.optimizer.getWeights();
    try {
      const { data, specs } = await tf.io.encodeWeights(weights);
      await writeFile(join(tmp, OPTIMIZER_JSON), JSON.stringify(specs));
      await writeFile(join(tmp, OPTIMIZER_BIN), Buffer.from(data));
    } finally {
      // getWeights makes a fresh tensor for the step counter; the moments stay the optimizer's.
      weights[0]!.tensor.dispose();
    }
    const state: CheckpointState = {
      format: 1,
      kind: 'simclr-checkpoint',
      step,
      totalSteps,
      config,
      rng: { seed: config.seed, step },
      losses,
      encoder: t.encoder.info,
      notes,
      savedAt: new Date().toISOString(),
    };
    await writeFile(join(tmp, STATE_FILE), JSON.stringify(state, null, 2));
  });
}

async function restoreOptimizer(dir: string, t: Trainables): Promise<void> {
  const specs = JSON.parse(
    await readFile(join(dir, OPTIMIZER_JSON), 'utf8'),
  ) as tf.io.WeightsManifestEntry[];
  const bin = await readFile(join(dir, OPTIMIZER_BIN));
  const decoded = tf.io.decodeWeights(
    bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
    specs,
  );
  const named = specs.map((s) => ({ name: s.name, tensor: decoded[s.name]! }));
  try {
    // [iterations, first moments…, second moments…], one moment per variable in order.
    const moments = named.length - 1;
    const shapesMatch =
      moments === 2 * t.variables.length &&
      t.variables.every(
        (v, i) =>
          tf.util.arraysEqual(v.shape, named[1 + i]!.tensor.shape) &&
          tf.util.arraysEqual(v.shape, named[1 + t.variables.length + i]!.tensor.shape),
      );
    if (!shapesMatch) {
      throw new ModelError(
        `The optimizer state in ${dir} does not fit this encoder and head; the checkpoint belongs to another network.`,
      );
    }
    await t.optimizer.setWeights(named);
  } finally {
    // setWeights made its own variables from these; ours are no longer needed.
    tf.dispose(named.map((n) => n.tensor));
  }
}

async function loadHead(dir: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(fileLoader(modelJsonPath(dir)));
}

/**
 * The loss of one step on `images`, as a function for the optimizer (or a memory probe) to
 * differentiate: two augmented views of each image (three with CutPaste), one encoder pass over
 * all of them in training mode, NT-Xent on the projections.
 */
function stepLoss(
  t: Trainables,
  config: SimclrConfig,
  images: tf.Tensor4D,
  rng: Rng,
): () => tf.Scalar {
  const view1 = augmentBatch(images, rng, config.augment);
  const view2 = augmentBatch(images, rng, config.augment);
  const pasted = t.cutPasteHead ? cutPaste(view1, rng, defaultCutPaste) : undefined;
  const n = images.shape[0];
  return () => {
    // One encoder pass over all views, so batch norm sees the whole batch (SimCLR's
    // "global BN" on one device).
    const all = tf.concat(pasted ? [view1, view2, pasted.images] : [view1, view2]);
    const { embedding } = t.encoder.encode(all, { training: true });
    const z = t.projection.apply(embedding.slice([0, 0], [2 * n, -1]), {
      training: true,
    }) as tf.Tensor2D;
    const contrastive = ntXentLoss(
      z.slice([0, 0], [n, -1]),
      z.slice([n, 0], [n, -1]),
      config.temperature,
    );
    if (!pasted || !t.cutPasteHead) return contrastive;
    const logits = t.cutPasteHead.apply(embedding.slice([2 * n, 0], [n, -1]), {
      training: true,
    }) as tf.Tensor2D;
    const labels = tf.tensor2d(
      pasted.pasted.map((p) => (p ? 1 : 0)),
      [n, 1],
    );
    const auxiliary = tf.losses.sigmoidCrossEntropy(labels, logits);
    return tf.add(contrastive, tf.mul(auxiliary, config.cutPasteWeight)) as tf.Scalar;
  };
}

/** One optimisation step on a decoded batch; returns the loss. */
function trainStep(
  t: Trainables,
  config: SimclrConfig,
  images: tf.Tensor4D,
  rng: Rng,
): Promise<number> {
  return takeScalar(
    tf.tidy(() => t.optimizer.minimize(stepLoss(t, config, images, rng), true, t.variables)!),
  );
}

/**
 * Refuses, before the first image is decoded, a run whose step would not fit the backend's
 * memory (the views, the encoder's activations kept for the backward pass, the gradients).
 */
function checkStepFits(t: Trainables, config: SimclrConfig): void {
  const batchSize = Math.min(config.batchSize, config.images.length);
  const views = t.cutPasteHead ? 3 : 2;
  checkTrainingBatch({
    owner: t.projection,
    key: 'simclr',
    batchSize,
    loss: (batch) =>
      stepLoss(
        t,
        config,
        tf.zeros([batch, config.decodeSize, config.decodeSize, 3]) as tf.Tensor4D,
        new Rng(config.seed),
      )(),
    variables: t.variables,
    // Adam's two moments per weight, made at the first update (a resumed run has them already).
    optimizerBytes: 2 * t.variables.reduce((sum, v) => sum + 4 * v.size, 0),
    what:
      `a SimCLR step of ${batchSize} images (${views * batchSize} views) at ${config.inputSize} px ` +
      `(${t.encoder.info.kind} encoder)`,
    smallest: 2,
  });
}

/**
 * Pretrains `run.encoder` with SimCLR. Decoding of the next batch overlaps the current step.
 * Cancelling (run.signal) stops at the next step boundary, writes a checkpoint when a
 * checkpointDir is set, and throws CancelledError. Leaves no tensors behind.
 */
export async function trainSimclr(run: SimclrRun): Promise<SimclrResult> {
  const { encoder } = run;
  const config = run.resume?.config ?? run.config;
  validateConfig(config, encoder);
  if (run.resume && run.resume.encoder.kind !== encoder.info.kind) {
    throw new BadArgumentError(
      `The checkpoint was made with a ${run.resume.encoder.kind} encoder, not ${encoder.info.kind}.`,
    );
  }
  const totalSteps = config.epochs * stepsPerEpoch(config);
  const notes = run.notes ?? run.resume?.notes ?? {};
  const losses: (number | null)[] = run.resume ? [...run.resume.losses] : [];
  let step = run.resume?.step ?? 0;
  const failed = new Map<string, ImageError>();

  const embeddingSize = encoder.info.embeddingSize;
  const t: Trainables = {
    encoder,
    projection: run.resume
      ? await loadHead(join(run.resume.dir, PROJECTION_DIR))
      : createProjectionHead(config, embeddingSize),
    cutPasteHead:
      config.cutPasteWeight > 0
        ? run.resume
          ? await loadHead(join(run.resume.dir, CUTPASTE_DIR))
          : createCutPasteHead(config, embeddingSize)
        : undefined,
    optimizer: tf.train.adam(config.learningRate),
    variables: [],
  };
  const loader = new ImageBatchLoader(config.decodeSize);
  const orders = new Map<number, number[]>();
  const started = performance.now();
  let sessionImages = 0;
  try {
    t.variables = [
      ...encoder.trainableVariables(),
      ...t.projection.trainableWeights.map((w) => w.read() as tf.Variable),
      ...(t.cutPasteHead?.trainableWeights.map((w) => w.read() as tf.Variable) ?? []),
    ];
    checkStepFits(t, config);
    if (run.resume) await restoreOptimizer(run.resume.dir, t);

    let stepSeconds: number | undefined;
    let stepStart = performance.now();
    const first = step;
    for await (const batch of prefetchBatches(loader, totalSteps - first, (i) =>
      batchPaths(config, first + i, orders),
    )) {
      if (run.signal?.aborted) {
        if (run.checkpointDir) {
          await writeCheckpoint(run.checkpointDir, t, config, step, totalSteps, losses, notes);
        }
        throw new CancelledError(
          `SimCLR training stopped at step ${step} of ${totalSteps}` +
            (run.checkpointDir ? `; the checkpoint in ${run.checkpointDir} resumes it.` : '.'),
        );
      }
      for (const failure of batch.failures) {
        if (failed.has(failure.path)) continue;
        failed.set(failure.path, failure);
        run.onImageError?.(failure);
      }
      let loss: number | null = null;
      if (batch.paths.length >= 2) {
        const images = batchTensor(batch);
        try {
          loss = await trainStep(t, config, images, Rng.derive(config.seed, AUGMENT_STREAM, step));
        } finally {
          images.dispose();
        }
        if (!Number.isFinite(loss)) {
          throw new ModelError(
            `SimCLR training diverged at step ${step + 1} (loss ${loss}). Lower the learning rate or raise the temperature.`,
          );
        }
      }
      losses.push(loss);
      sessionImages += batch.paths.length;
      step++;

      const now = performance.now();
      const seconds = (now - stepStart) / 1000;
      stepStart = now;
      // A running mean over the last ~10 steps: steady enough to read, quick to follow changes.
      stepSeconds = stepSeconds === undefined ? seconds : 0.9 * stepSeconds + 0.1 * seconds;
      const imagesPerSecond = batch.paths.length / Math.max(stepSeconds, 1e-6);
      const shownLoss = loss ?? losses.findLast((l) => l !== null) ?? Number.NaN;
      run.onProgress?.(
        step,
        totalSteps,
        shownLoss,
        imagesPerSecond,
        (totalSteps - step) * stepSeconds,
      );

      if (run.checkpointDir && config.checkpointEvery > 0 && step % config.checkpointEvery === 0) {
        await writeCheckpoint(run.checkpointDir, t, config, step, totalSteps, losses, notes);
      }
      // Let signal handlers (Ctrl-C, jobs/cancel) run between steps even when the next batch
      // is already decoded.
      await new Promise((resolve) => setImmediate(resolve));
    }
    const seconds = (performance.now() - started) / 1000;
    return {
      steps: step,
      losses,
      imagesPerSecond: sessionImages / Math.max(seconds, 1e-6),
      failedImages: [...failed.values()],
    };
  } finally {
    await loader.close();
    t.optimizer.dispose();
    t.projection.dispose();
    t.cutPasteHead?.dispose();
  }
}

/**
 * What a finished run records in its model manifest: the loss at the start and at the end (means
 * of the first and last tenth of the steps, as single steps are noisy) and the settings it ran
 * with; `tenth` is how many steps each mean took.
 */
export function simclrRecord(result: SimclrResult, config: SimclrConfig) {
  const losses = result.losses.filter((l): l is number => l !== null);
  const tenth = Math.max(1, Math.round(losses.length / 10));
  const mean = (values: number[]) => values.reduce((s, v) => s + v, 0) / Math.max(values.length, 1);
  return {
    tenth,
    metrics: {
      steps: result.steps,
      firstLoss: mean(losses.slice(0, tenth)),
      lastLoss: mean(losses.slice(-tenth)),
      losses: result.losses,
      imagesPerSecond: result.imagesPerSecond,
    },
    training: {
      method: 'simclr',
      images: config.images.length,
      epochs: config.epochs,
      batchSize: config.batchSize,
      learningRate: config.learningRate,
      temperature: config.temperature,
      cutPasteWeight: config.cutPasteWeight,
      seed: config.seed,
    },
  };
}
