// The one-class patch detector (PatchCore-style): a memory bank of patch features from good
// images, coreset-subsampled; a patch's anomaly is its distance to the nearest bank patch, an
// image's score the largest patch anomaly, and the anomaly map the patch anomalies upsampled
// and smoothed. Fitting needs only good images and no backpropagation.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_INPUT_SIZE } from '../../../shared/dto.js';
import { BadArgumentError, CancelledError, ModelError } from '../../../shared/errors.js';
import type { Encoder } from '../../encoders/encoder.js';
import { loadEncoder } from '../../encoders/registry.js';
import type { Detector, FitBatch, FitOptions, ScoreResult } from '../detector.js';
import {
  defaultPatchFeatures,
  imageScores,
  nearestDistances,
  patchFeatures,
  patchResults,
  type PatchFeatureConfig,
} from '../patch-features.js';
import { quantile } from '../../threshold.js';
import { greedyCoreset } from './coreset.js';

export interface PatchcoreConfig {
  inputSize: number;
  features: PatchFeatureConfig;
  /**
   * Image scales to take patch features at, relative to `inputSize`; one memory bank each. With
   * [1, 0.5] at 448 px the detector sees both 448 px (thin scratches, threads) and 224 px (large
   * faint blots); a patch's score is the mean over scales of its distance relative to that
   * scale's typical good-image score.
   */
  scales: number[];
  /** Fraction of all good patches kept in each bank. */
  coresetRatio: number;
  /** Upper bound on each bank, which bounds scoring time and memory. */
  maxBank: number;
  seed: number;
}

export const defaultPatchcoreConfig: PatchcoreConfig = {
  inputSize: DEFAULT_INPUT_SIZE,
  features: defaultPatchFeatures,
  scales: [1],
  coresetRatio: 0.1,
  maxBank: 2048,
  seed: 0,
};

const CONFIG_FILE = 'detector.json';
/** Images whose scores give a bank's typical score (see Bank.typical). */
const TYPICAL_IMAGES = 32;
/** Bank files by scale index; the first keeps the single-scale name older folders have. */
const bankFile = (i: number): string => (i === 0 ? 'bank.bin' : `bank-${i}.bin`);

interface Bank {
  /** Patches stored transposed [C, M] with squared norms [M]: see nearestDistances. */
  bankT: tf.Tensor2D;
  norms: tf.Tensor1D;
  /**
   * The median image score of the good images the bank was fitted on: patch distances are
   * divided by it, so scales with different distance ranges weigh alike. Its coreset holds
   * ≤ 2 % of those images' patches, so their scores are close to unseen good images'.
   */
  typical: number;
}

interface SavedBank {
  size: number;
  channels: number;
  typical: number;
}

export class PatchcoreDetector implements Detector {
  readonly kind = 'one-class' as const;
  readonly config: PatchcoreConfig;
  private banks: Bank[] = [];

  constructor(
    readonly encoder: Encoder,
    config: Partial<PatchcoreConfig> = {},
  ) {
    this.config = { ...defaultPatchcoreConfig, ...config };
    const { scales, inputSize } = this.config;
    if (
      scales.length === 0 ||
      scales.some((s) => !(s > 0 && s <= 1) || Math.round(s * inputSize) < 32)
    ) {
      throw new BadArgumentError(
        `One-class scales must be in (0, 1] and leave at least 32 px of ${inputSize}; got ${scales.join(', ')}.`,
      );
    }
  }

  get inputSize(): number {
    return this.config.inputSize;
  }

  get bankSize(): number {
    return this.banks[0]?.bankT.shape[1] ?? 0;
  }

  /** [B, h, w, C] patch features of `images` at scale `scale` of the input. */
  private scaledFeatures(images: tf.Tensor4D, scale: number): tf.Tensor4D {
    return tf.tidy(() => {
      const [, height, width] = images.shape;
      const input =
        scale === 1
          ? images
          : tf.image.resizeBilinear(
              images,
              [Math.round(height * scale), Math.round(width * scale)],
              true,
            );
      return patchFeatures(this.encoder, input, this.config.features);
    });
  }

  async fit(
    batches: AsyncIterable<FitBatch> | Iterable<FitBatch>,
    options: FitOptions = {},
  ): Promise<void> {
    const { scales } = this.config;
    const collected: tf.Tensor3D[][] = scales.map(() => []);
    let images = 0;
    try {
      for await (const batch of batches) {
        if (options.signal?.aborted) throw new CancelledError('Fitting was cancelled.');
        const good = batch.labels
          ? batch.labels.map((l, i) => (l === 0 ? i : -1)).filter((i) => i >= 0)
          : null;
        const selected = tf.tidy(() =>
          good && good.length < batch.images.shape[0]
            ? tf.gather(batch.images, good)
            : batch.images.clone(),
        );
        try {
          scales.forEach((scale, i) => {
            collected[i]!.push(
              tf.tidy(() => {
                const f = this.scaledFeatures(selected, scale);
                return f.reshape([f.shape[0], -1, f.shape[3]]) as tf.Tensor3D;
              }),
            );
          });
        } finally {
          selected.dispose();
        }
        images += good ? good.length : batch.images.shape[0];
        options.onProgress?.(images, options.total ?? images, 'extracting patch features');
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (images === 0)
        throw new BadArgumentError('One-class fitting needs good images; none were given.');
      const banks: Bank[] = [];
      try {
        for (const patches of collected) banks.push(await this.buildBank(patches, options));
      } catch (error) {
        disposeBanks(banks);
        throw error;
      }
      disposeBanks(this.banks);
      this.banks = banks;
    } finally {
      for (const list of collected) tf.dispose(list);
    }
  }

  /** One scale's bank from its patches [images, P, C] in batches: coreset, then typical score. */
  private async buildBank(batches: tf.Tensor3D[], options: FitOptions): Promise<Bank> {
    const perImage = tf.concat(batches) as tf.Tensor3D;
    const [count, patches, channels] = perImage.shape;
    const all = perImage.reshape([count * patches, channels]) as tf.Tensor2D;
    try {
      const size = Math.max(
        1,
        Math.min(this.config.maxBank, Math.round(all.shape[0] * this.config.coresetRatio)),
      );
      const indices = await greedyCoreset(all, {
        size,
        seed: this.config.seed,
        ...(options.signal ? { signal: options.signal } : {}),
        onProgress: (done, total) => options.onProgress?.(done, total, 'selecting the coreset'),
      });
      const bank = makeBank(
        tf.tidy(() => tf.gather(all, indices)),
        1,
      );
      // The typical score from at most TYPICAL_IMAGES of the images, evenly spread: a median
      // needs no more, and scoring every patch of hundreds of 448 px images would not be cheap.
      const picked = Math.min(count, TYPICAL_IMAGES);
      const scores = tf.tidy(() => {
        const step = count / picked;
        const rows = Array.from({ length: picked }, (_, i) => Math.floor(i * step));
        const sampled = tf.gather(perImage, rows).reshape([picked * patches, channels]);
        return imageScores(
          tf
            .sqrt(nearestDistances(sampled as tf.Tensor2D, bank.bankT, bank.norms))
            .reshape([picked, patches, 1]),
        );
      });
      bank.typical = Math.max(quantile(await scores.data(), 0.5), 1e-12);
      scores.dispose();
      return bank;
    } finally {
      tf.dispose([perImage, all]);
    }
  }

  async score(
    images: tf.Tensor4D,
    options: { anomalyMaps?: boolean } = {},
  ): Promise<ScoreResult[]> {
    if (this.banks.length === 0) throw new ModelError('This one-class detector is not fitted yet.');
    const [count, height, width] = images.shape;
    const patchScores = tf.tidy(() => {
      let grid: [number, number] | undefined;
      const maps = this.banks.map((bank, i) => {
        const f = this.scaledFeatures(images, this.config.scales[i]!);
        const [, h, w, c] = f.shape;
        grid ??= [h, w];
        const map = tf
          .sqrt(nearestDistances(f.reshape([-1, c]) as tf.Tensor2D, bank.bankT, bank.norms))
          .div(bank.typical)
          .reshape([count, h, w, 1]) as tf.Tensor4D;
        return h === grid[0] && w === grid[1] ? map : tf.image.resizeBilinear(map, grid);
      });
      return (maps.length === 1 ? maps[0]! : tf.addN(maps).div(maps.length)).squeeze([
        3,
      ]) as tf.Tensor3D;
    });
    return patchResults(patchScores, [height, width], options.anomalyMaps ?? false);
  }

  async save(dir: string): Promise<void> {
    if (this.banks.length === 0)
      throw new ModelError('Cannot save a one-class detector before it is fitted.');
    await this.encoder.save(join(dir, 'encoder'));
    const saved: SavedBank[] = [];
    for (const [i, bank] of this.banks.entries()) {
      const values = tf.tidy(() => bank.bankT.transpose());
      try {
        const data = (await values.data()) as Float32Array;
        await writeFile(
          join(dir, bankFile(i)),
          Buffer.from(data.buffer, data.byteOffset, data.byteLength),
        );
      } finally {
        values.dispose();
      }
      const [channels, size] = bank.bankT.shape;
      saved.push({ size, channels, typical: bank.typical });
    }
    await writeFile(
      join(dir, CONFIG_FILE),
      JSON.stringify({ kind: this.kind, config: this.config, banks: saved }, null, 2),
    );
  }

  dispose(): void {
    disposeBanks(this.banks);
    this.banks = [];
    this.encoder.dispose();
  }

  static async load(dir: string): Promise<PatchcoreDetector> {
    const saved = JSON.parse(await readFile(join(dir, CONFIG_FILE), 'utf8')) as {
      config: Partial<PatchcoreConfig>;
      banks?: SavedBank[];
      /** Single-scale folders written before banks per scale (their scores were not divided). */
      bank?: { size: number; channels: number };
    };
    const banks = saved.banks ?? (saved.bank ? [{ ...saved.bank, typical: 1 }] : []);
    const files: Float32Array[] = [];
    for (const [i, { size, channels }] of banks.entries()) {
      const bytes = await readFile(join(dir, bankFile(i)));
      if (bytes.byteLength !== size * channels * 4) {
        throw new ModelError(
          `${join(dir, bankFile(i))} holds ${bytes.byteLength} bytes; expected ${size * channels * 4}. The model folder is damaged.`,
        );
      }
      files.push(
        new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)),
      );
    }
    const config = { ...defaultPatchcoreConfig, ...saved.config };
    if (banks.length !== config.scales.length)
      throw new ModelError(
        `${join(dir, CONFIG_FILE)} names ${config.scales.length} scales but ${banks.length} banks.`,
      );
    const detector = new PatchcoreDetector(await loadEncoder(join(dir, 'encoder')), config);
    detector.banks = banks.map(({ size, channels, typical }, i) =>
      makeBank(tf.tensor2d(files[i]!, [size, channels]), typical),
    );
    return detector;
  }
}

/** A bank from patches [M, C] (disposed here). */
function makeBank(patches: tf.Tensor2D, typical: number): Bank {
  try {
    return {
      bankT: tf.keep(tf.tidy(() => patches.transpose<tf.Tensor2D>())),
      norms: tf.keep(tf.tidy(() => tf.sum<tf.Tensor1D>(tf.square(patches), 1))),
      typical,
    };
  } finally {
    patches.dispose();
  }
}

function disposeBanks(banks: Bank[]): void {
  for (const bank of banks) tf.dispose([bank.bankT, bank.norms]);
}
