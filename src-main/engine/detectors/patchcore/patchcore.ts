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
import type { InputShape } from '../../image-batches.js';
import { inputShapeOf } from '../../input-shape.js';
import {
  checkTileScale,
  fitInputs,
  tiledPatchScores,
  tileLayoutFor,
  type TileLayout,
} from '../tiling.js';
import { loadEncoder } from '../../encoders/registry.js';
import type { Detector, FitBatch, FitOptions, ScoreResult } from '../detector.js';
import {
  defaultPatchFeatures,
  imageScores,
  nearestDistances,
  patchFeatures,
  patchResults,
  readFloats,
  writeTensor,
  type PatchFeatureConfig,
} from '../patch-features.js';
import { quantile } from '../../threshold.js';
import { greedyCoreset } from './coreset.js';
import { Rng } from '../../../shared/random.js';

export interface PatchcoreConfig {
  /** Short side images are scored at. */
  inputSize: number;
  /** Width / height of the type's images (input-shape.ts sharedAspect); 1 scores squares. */
  aspect: number;
  /**
   * Short side images are scored at in tiles of `inputSize` (tiling.ts); null scores the whole
   * image at `inputSize`. Opt-in per type: no real type has gained from it in the product yet
   * (kolektor 0.894 whole, 0.885 at 448 px in 224 px tiles: EVALUATION.md, Tiling).
   */
  tileScale: number | null;
  features: PatchFeatureConfig;
  /**
   * Image scales to take patch features at, relative to `inputSize`; one memory bank each. With
   * [1, 0.5] at 448 px the detector sees both 448 px (thin scratches, threads) and 224 px (large
   * faint blots); a patch's score is the mean over scales of its distance relative to that
   * scale's typical good-image score.
   */
  scales: number[];
  /**
   * The scales (of `scales`) whose patches are judged relative to their own image: less the
   * image's mean patch feature. Exposure and tint vary from shot to shot, so a light stain on a
   * dark hide matches the good patches of a lighter hide; relative to its own image it stands
   * out, and a stain covers too few patches to move the mean. At the coarse scale this lifted
   * synthetic leather from 0.915 to 0.953 (EVALUATION.md); at the fine scale it cost thin
   * scratches more than it gained. A defect that changes the whole image is still seen at the
   * uncentred scales.
   */
  centredScales: number[];
  /** Fraction of all good patches kept in each bank. */
  coresetRatio: number;
  /** Upper bound on each bank, which bounds scoring time and memory. */
  maxBank: number;
  seed: number;
}

export const defaultPatchcoreConfig: PatchcoreConfig = {
  inputSize: DEFAULT_INPUT_SIZE,
  aspect: 1,
  tileScale: null,
  features: defaultPatchFeatures,
  scales: [1],
  centredScales: [],
  coresetRatio: 0.1,
  maxBank: 2048,
  seed: 0,
};

const CONFIG_FILE = 'detector.json';
/**
 * Images whose scores give a bank's typical score (see Bank.typical): a median needs no more, and
 * scoring every patch of hundreds of 448 px images would not be cheap.
 */
const TYPICAL_IMAGES = 32;
/**
 * Patches a scale keeps while fitting, as a uniform sample: the coreset search looks at no more
 * anyway, and keeping every patch of 1,000 good images at 448 px (12.5 M patches, 3.2 GB) would
 * not fit wasm's 4 GB heap. 200,000 × 40–64 channels is at most 51 MB.
 */
const PATCH_SAMPLE = 200_000;
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
    const stray = this.config.centredScales.filter((s) => !scales.includes(s));
    if (stray.length > 0)
      throw new BadArgumentError(
        `Centred scales must be among the scales (${scales.join(', ')}); got ${stray.join(', ')}.`,
      );
    if (this.config.tileScale !== null) checkTileScale(this.config.tileScale, inputSize);
  }

  get inputSize(): number {
    return this.config.inputSize;
  }

  get inputShape(): InputShape {
    return inputShapeOf(this.config.tileScale ?? this.config.inputSize, this.config.aspect);
  }

  private get tiles(): TileLayout | null {
    return tileLayoutFor(this.config.tileScale, this.inputShape, this.config.inputSize);
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
      const features = patchFeatures(this.encoder, input, this.config.features);
      // Relative to the image: less its mean patch feature (see PatchcoreConfig.centredScales).
      return this.config.centredScales.includes(scale)
        ? tf.sub(features, tf.mean(features, [1, 2], true))
        : features;
    });
  }

  async fit(
    batches: AsyncIterable<FitBatch> | Iterable<FitBatch>,
    fitOptions: FitOptions = {},
  ): Promise<void> {
    const { scales } = this.config;
    // Tiled, each tile is a good image of its own.
    const { batches: inputs, options } = fitInputs(batches, fitOptions, this.tiles);
    const samples = scales.map(() => new PatchSample(this.config.seed));
    let images = 0;
    try {
      for await (const batch of inputs) {
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
          for (const [i, scale] of scales.entries()) {
            const features = tf.tidy(() => {
              const f = this.scaledFeatures(selected, scale);
              return f.reshape([f.shape[0], -1, f.shape[3]]) as tf.Tensor3D;
            });
            try {
              await samples[i]!.add(features);
            } finally {
              features.dispose();
            }
          }
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
        for (const sample of samples) banks.push(await this.buildBank(sample, options));
      } catch (error) {
        disposeBanks(banks);
        throw error;
      }
      disposeBanks(this.banks);
      this.banks = banks;
    } finally {
      for (const sample of samples) sample.dispose();
    }
  }

  /** One scale's bank from its patch sample: coreset, then typical score. */
  private async buildBank(sample: PatchSample, options: FitOptions): Promise<Bank> {
    const all = sample.rowsTensor();
    try {
      // The bank's size follows every patch seen, not only the sampled ones.
      const size = Math.max(
        1,
        Math.min(this.config.maxBank, Math.round(sample.patchesSeen * this.config.coresetRatio)),
      );
      const indices = await greedyCoreset(all, {
        size,
        seed: this.config.seed,
        maxCandidates: PATCH_SAMPLE,
        ...(options.signal ? { signal: options.signal } : {}),
        onProgress: (done, total) => options.onProgress?.(done, total, 'selecting the coreset'),
      });
      const bank = makeBank(
        tf.tidy(() => tf.gather(all, indices)),
        1,
      );
      const scores = tf.tidy(() => {
        const perImage = tf.stack(sample.images) as tf.Tensor3D;
        const [count, patches, channels] = perImage.shape;
        return imageScores(
          tf
            .sqrt(
              nearestDistances(
                perImage.reshape([count * patches, channels]) as tf.Tensor2D,
                bank.bankT,
                bank.norms,
              ),
            )
            .reshape([count, patches, 1]),
        );
      });
      bank.typical = Math.max(quantile(await scores.data(), 0.5), 1e-12);
      scores.dispose();
      return bank;
    } finally {
      all.dispose();
    }
  }

  /** Patch scores [B, h, w] of images at the detector's input size: mean over the banks. */
  private patchScores(images: tf.Tensor4D): tf.Tensor3D {
    const count = images.shape[0];
    return tf.tidy(() => {
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
  }

  async score(
    images: tf.Tensor4D,
    options: { anomalyMaps?: boolean } = {},
  ): Promise<ScoreResult[]> {
    if (this.banks.length === 0) throw new ModelError('This one-class detector is not fitted yet.');
    const [, height, width] = images.shape;
    const tiles = this.tiles;
    const patchScores = tiles
      ? tiledPatchScores(images, tiles, (tile) => this.patchScores(tile))
      : this.patchScores(images);
    return patchResults(patchScores, [height, width], options.anomalyMaps ?? false);
  }

  async save(dir: string): Promise<void> {
    if (this.banks.length === 0)
      throw new ModelError('Cannot save a one-class detector before it is fitted.');
    await this.encoder.save(join(dir, 'encoder'));
    const saved: SavedBank[] = [];
    for (const [i, bank] of this.banks.entries()) {
      await writeTensor(
        join(dir, bankFile(i)),
        tf.tidy(() => bank.bankT.transpose()),
      );
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
    for (const [i, { size, channels }] of banks.entries())
      files.push(await readFloats(join(dir, bankFile(i)), size * channels));
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

/**
 * The patches one scale keeps while fitting, with memory bounded for any number of images: a
 * uniform sample (reservoir sampling) of at most PATCH_SAMPLE patch rows for the coreset, and
 * every patch of a uniform sample of TYPICAL_IMAGES images for the typical score.
 */
export class PatchSample {
  private rows: Float32Array | undefined;
  private channels = 0;
  private kept = 0;
  patchesSeen = 0;
  readonly images: tf.Tensor2D[] = [];
  private imagesSeen = 0;
  private readonly rowRng: Rng;
  private readonly imageRng: Rng;

  constructor(
    seed: number,
    private readonly capacity = PATCH_SAMPLE,
  ) {
    this.rowRng = Rng.derive(seed, 1);
    this.imageRng = Rng.derive(seed, 2);
  }

  /** Takes the patches [B, P, C] of a batch of images (copies what it keeps). */
  async add(features: tf.Tensor3D): Promise<void> {
    const [count, patches, channels] = features.shape;
    this.channels = channels;
    // Grown as needed (doubling), so fitting a few small images does not take the whole 51 MB.
    const needed = Math.min(this.capacity, this.patchesSeen + count * patches) * channels;
    if ((this.rows?.length ?? 0) < needed) {
      const grown = new Float32Array(
        Math.min(this.capacity * channels, Math.max(needed, 2 * (this.rows?.length ?? 0))),
      );
      if (this.rows) grown.set(this.rows);
      this.rows = grown;
    }
    const rows = this.rows!;
    const values = (await features.data()) as Float32Array;
    for (let row = 0; row < count * patches; row++, this.patchesSeen++) {
      const slot = this.rowRng.reservoirSlot(this.patchesSeen, this.capacity);
      if (slot < 0) continue;
      rows.set(values.subarray(row * channels, (row + 1) * channels), slot * channels);
      this.kept = Math.max(this.kept, slot + 1);
    }
    for (let i = 0; i < count; i++, this.imagesSeen++) {
      const slot = this.imageRng.reservoirSlot(this.imagesSeen, TYPICAL_IMAGES);
      if (slot < 0) continue;
      this.images[slot]?.dispose();
      this.images[slot] = tf.tidy(
        () =>
          features
            .slice([i, 0, 0], [1, patches, channels])
            .reshape([patches, channels]) as tf.Tensor2D,
      );
    }
  }

  /** The sampled patch rows [N, C]. */
  rowsTensor(): tf.Tensor2D {
    if (!this.rows || this.kept === 0) throw new BadArgumentError('No patches were sampled.');
    return tf.tensor2d(this.rows.subarray(0, this.kept * this.channels), [
      this.kept,
      this.channels,
    ]);
  }

  dispose(): void {
    tf.dispose(this.images);
    this.images.length = 0;
    this.rows = undefined;
  }
}

function disposeBanks(banks: Bank[]): void {
  for (const bank of banks) tf.dispose([bank.bankT, bank.norms]);
}
