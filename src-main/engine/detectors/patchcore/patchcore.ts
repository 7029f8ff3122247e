// The one-class patch detector (PatchCore-style): a memory bank of patch features from good
// images, coreset-subsampled; a patch's anomaly is its distance to the nearest bank patch, an
// image's score the mean of its highest patch anomalies (patch-features.ts, ImageScoring), and
// the anomaly map the patch anomalies upsampled and smoothed. Fitting needs only good images and
// no backpropagation.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  DEFAULT_INPUT_SIZE,
  type DefectHeadCheckDto,
  type DefectMemoryDto,
  type PlacesDto,
  type ViewsChoice,
} from '../../../shared/dto.js';
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
  imageScoreOf,
  imageScores,
  nearestDistances,
  patchFeatures,
  patchResults,
  readFloats,
  SMOOTHED_TOP_PATCHES,
  TOP_PATCHES,
  writeTensor,
  type ImageScoring,
  type PatchFeatureConfig,
} from '../patch-features.js';
import { quantile } from '../../threshold.js';
import { greedyCoreset } from './coreset.js';
import { MIN_HEAD_AUROC, MIN_HEAD_IMAGES, VIEWS_GAIN } from '../../../shared/model-quality.js';
import { DefectHead, HeadSamples, type DefectHeadConfig } from './defect-head.js';
import {
  DefectMemory,
  MIN_MEMORY_DEFECTS,
  chooseMemory,
  cutFor,
  type ImagePatches,
} from './defect-memory.js';
import { PATCH_SAMPLE, PatchSample } from './patch-sample.js';
import { SCORED_VIEWS, identity, imageViews } from '../views.js';
import { PAINTED_DEFECTS, paintedKinds } from '../../synthetic-defects.js';
import { Rng } from '../../../shared/random.js';
import { MIN_PLACE_IMAGES, Places, choosePlaces, type LearnedPlaces } from '../places.js';

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
  /**
   * A head trained on defects painted into the good images (defect-head.ts), added to the first
   * scale's patch distances; null: none. Retrain and eval set it unless told off (EVALUATION.md,
   * Defect head); the detector's own default is none. Ignored when tiled.
   */
  head: DefectHeadConfig | null;
  /**
   * Whether the bank also learns each good image's mirror images and half turn, and on square
   * images its quarter turns (`imageViews`). Below FEW_SHOT_IMAGES good whole images, where the
   * bank has not seen every pose of the part, retrain and eval try it as a candidate and keep it
   * where it validates better (learnsViews, chooseLayers): 10-shot casting 0.843 → 0.886
   * (EVALUATION.md, Few good images). With more images it only slows fitting.
   */
  augment: boolean;
  /**
   * How patch scores become the image score (patch-features.ts): SMOOTHED_TOP_PATCHES, which
   * retrain and eval set by the good images and defect labels there are (oneClassScoring); models
   * saved before it was recorded keep TOP_PATCHES, which their thresholds were set on.
   */
  imageScoring: ImageScoring;
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
  head: null,
  augment: false,
  imageScoring: SMOOTHED_TOP_PATCHES,
  seed: 0,
};

const CONFIG_FILE = 'detector.json';
const HEAD_FILE = 'head.bin';
const MEMORY_FILE = 'defects.bin';
const PLACES_FILE = 'places.bin';
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

/**
 * What a one-class model learns beside its memory bank, which `without` can leave out of its
 * scores: the defect head (painted defects judge a candidate without it, since the head learned
 * from them), the defect memory (an older model is judged without it on the reviewed defects
 * it learned from, as the new model is judged on defects it did not) and its places (learned
 * from held-out good images that may be the very ones it is judged on), with the views it scores
 * in, which were kept on the same images.
 */
export type LearnedPart = 'head' | 'memory' | 'places';

export class PatchcoreDetector implements Detector {
  readonly kind = 'one-class' as const;
  readonly config: PatchcoreConfig;
  private banks: Bank[] = [];
  private head: DefectHead | null = null;
  /**
   * The defect head's check when one was trained: its held-out patch AUROC and whether it passed
   * MIN_HEAD_AUROC and so is used.
   */
  headCheck: DefectHeadCheckDto | null = null;
  /** What reviewed defects taught it (defect-memory.ts), when cross-validation kept a memory. */
  private memory: DefectMemory | null = null;
  /** The cross-validation that chose the memory's weight, when reviewed defects were learned. */
  memoryCheck: DefectMemoryDto | null = null;
  /** Each place's normal (places.ts), when its check kept it. */
  private places: Places | null = null;
  /** The check that decided on places and views, when they were tried. */
  placesCheck: PlacesDto | null = null;
  /**
   * Whether it scores each image also in the other SCORED_VIEWS (learnPlaces), maps averaged: as
   * its check records, so a model saved and loaded scores as it was checked.
   */
  private get viewed(): boolean {
    return this.placesCheck?.viewed === true;
  }
  /** The learned parts `without` has turned off while its work runs. */
  private readonly off = new Set<LearnedPart>();

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

  /**
   * Whether it has learned `part` (a head that passed its check, a memory, or places or views
   * kept).
   */
  has(part: LearnedPart): boolean {
    if (part === 'places') return this.places !== null || this.viewed;
    return { head: this.head, memory: this.memory }[part] !== null;
  }

  /**
   * Runs `work` with scores that leave a learned part out (LearnedPart says when each is judged
   * so). Parts already off stay off.
   */
  async without<T>(part: LearnedPart, work: () => Promise<T>): Promise<T> {
    if (this.off.has(part)) return work();
    this.off.add(part);
    try {
      return await work();
    } finally {
      this.off.delete(part);
    }
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
    // Not with tiles: tiles of one image would sit on both sides of the head's held-out check,
    // and tiled types were not measured with it.
    const headSamples = this.config.head && !this.tiles ? new HeadSamples(this.config.seed) : null;
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
          const views = this.config.augment ? imageViews(selected.shape) : [identity];
          for (const [i, scale] of scales.entries()) {
            for (const [v, view] of views.entries()) {
              const features = tf.tidy(() => {
                const f = this.scaledFeatures(view(selected), scale);
                return f.reshape([f.shape[0], -1, f.shape[3]]) as tf.Tensor3D;
              });
              try {
                await samples[i]!.add(features);
                // The head learns and checks itself on the images as they are.
                if (i === 0 && v === 0 && headSamples)
                  await headSamples.add(selected, features, (painted) =>
                    this.scaledFeatures(painted, scale),
                  );
              } finally {
                features.dispose();
              }
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
      let head: DefectHead | null = null;
      try {
        // Too few held-out images to check and weigh it on: not worth training.
        if (headSamples && this.config.head && headSamples.heldImages.length >= MIN_HEAD_IMAGES)
          head = await DefectHead.train(headSamples, this.config.head, {
            seed: this.config.seed,
            ...(options.signal ? { signal: options.signal } : {}),
            ...(options.onProgress ? { onProgress: options.onProgress } : {}),
          });
      } catch (error) {
        disposeBanks(banks);
        throw error;
      }
      let check: DefectHeadCheckDto | null = null;
      if (headSamples && this.config.head) {
        const heldOutImages = headSamples.heldImages.length;
        let used = false;
        if (
          head &&
          (head.heldOutAuroc ?? 0) >= MIN_HEAD_AUROC &&
          heldOutImages >= MIN_HEAD_IMAGES
        ) {
          head.scale = await headScale(head, banks[0]!, headSamples.heldImages);
          used = head.scale > 0;
        }
        check = {
          heldOutAuroc: head?.heldOutAuroc ?? null,
          heldOutImages,
          used,
          ...(used && head ? { weight: head.scale * this.config.head.weight } : {}),
        };
      }
      if (head && !check?.used) {
        head.dispose();
        head = null;
      }
      disposeBanks(this.banks);
      this.head?.dispose();
      this.banks = banks;
      this.head = head;
      this.headCheck = check;
      // A memory or places measured against the old bank do not fit the new one.
      this.forgetDefects();
      this.forgetPlaces();
    } finally {
      for (const sample of samples) sample.dispose();
      headSamples?.dispose();
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
    return tf.tidy(() => this.patchTerms(images).scores);
  }

  /**
   * The patch scores [B, h, w] (patchScores), with the first scale's patch features [B·h·w, c]
   * and bank distances [B·h·w] of the images as they are, so that learnDefects reads all three
   * from one pass of the encoder; the scores averaged over the views when the model scores them.
   * Call inside tf.tidy.
   */
  private patchTerms(images: tf.Tensor4D): {
    scores: tf.Tensor3D;
    rows: tf.Tensor2D;
    fromBank: tf.Tensor1D;
  } {
    const terms = this.bankTerms(images);
    // Views are learned with the places (learnPlaces), and left out with them.
    const { scores } = this.viewed && !this.off.has('places') ? this.inViews(images, terms) : terms;
    return {
      scores: this.places && !this.off.has('places') ? this.places.apply(scores) : scores,
      rows: terms.rows,
      fromBank: terms.fromBank,
    };
  }

  /**
   * `terms` of the images as they are (bankTerms), and the same images' maps in the other
   * SCORED_VIEWS, each brought back onto the image: both maps averaged over the four views.
   * Call inside tf.tidy.
   */
  private inViews(
    images: tf.Tensor4D,
    terms: { scores: tf.Tensor3D; bankScores: tf.Tensor3D },
  ): { scores: tf.Tensor3D; bankScores: tf.Tensor3D } {
    const scores = [terms.scores];
    const bankScores = [terms.bankScores];
    // The first view is the images as they are: `terms`.
    for (const view of SCORED_VIEWS.slice(1)) {
      const viewed = this.bankTerms(view(images));
      const back = (map: tf.Tensor3D) =>
        view(map.expandDims(3) as tf.Tensor4D).squeeze([3]) as tf.Tensor3D;
      scores.push(back(viewed.scores));
      bankScores.push(back(viewed.bankScores));
    }
    const mean = (maps: tf.Tensor3D[]) => tf.addN(maps).div(maps.length) as tf.Tensor3D;
    return { scores: mean(scores), bankScores: mean(bankScores) };
  }

  /**
   * The banks' patch scores [B, h, w] with the defect head and memory, before places, and the
   * banks' own scores [B, h, w] (without head or memory), so that learnPlaces reads both; with the
   * first scale's patch features and bank distances they came from (patchTerms). Call inside
   * tf.tidy.
   */
  private bankTerms(images: tf.Tensor4D): {
    scores: tf.Tensor3D;
    bankScores: tf.Tensor3D;
    rows: tf.Tensor2D;
    fromBank: tf.Tensor1D;
  } {
    const count = images.shape[0];
    let first: { rows: tf.Tensor2D; fromBank: tf.Tensor1D; grid: [number, number] } | undefined;
    const onGrid = (distances: tf.Tensor1D, [h, w]: [number, number]): tf.Tensor4D => {
      const map = distances.reshape([count, h, w, 1]) as tf.Tensor4D;
      return h === first!.grid[0] && w === first!.grid[1]
        ? map
        : tf.image.resizeBilinear(map, first!.grid);
    };
    const mean = (maps: tf.Tensor4D[]): tf.Tensor3D =>
      (maps.length === 1 ? maps[0]! : tf.addN(maps).div(maps.length)).squeeze([3]) as tf.Tensor3D;
    const bankMaps: tf.Tensor4D[] = [];
    const maps = this.banks.map((bank, i) => {
      const f = this.scaledFeatures(images, this.config.scales[i]!);
      const [, h, w, c] = f.shape;
      const rows = f.reshape([-1, c]) as tf.Tensor2D;
      const fromBank = tf
        .sqrt(nearestDistances(rows, bank.bankT, bank.norms))
        .div(bank.typical) as tf.Tensor1D;
      first ??= { rows, fromBank, grid: [h, w] };
      bankMaps.push(onGrid(fromBank, [h, w]));
      let distances = fromBank;
      if (i === 0 && this.memory && !this.off.has('memory'))
        distances = tf.add(distances, this.memory.term(rows, fromBank, bank.typical));
      if (i === 0 && this.head && !this.off.has('head') && this.config.head)
        distances = tf.add(
          distances,
          tf.mul(this.head.probabilities(rows), this.config.head.weight * this.head.scale),
        );
      return distances === fromBank ? bankMaps[i]! : onGrid(distances, [h, w]);
    });
    return {
      scores: mean(maps),
      bankScores: mean(bankMaps),
      rows: first!.rows,
      fromBank: first!.fromBank,
    };
  }

  /**
   * Learns reviewed defects (defect-memory.ts): reads `defects` and the held-out `good` images,
   * chooses the memory by two-fold cross-validation (chooseMemory), and keeps it unless the bank
   * alone validated as well or the guard refused it. Returns the check and each defect's
   * out-of-fold score (in the order read); null when tiled or with fewer than MIN_MEMORY_DEFECTS
   * defects read.
   */
  async learnDefects(
    defects: AsyncIterable<FitBatch> | Iterable<FitBatch>,
    good: AsyncIterable<FitBatch> | Iterable<FitBatch>,
    signal?: AbortSignal,
  ): Promise<{ check: DefectMemoryDto; outOfFold: number[] } | null> {
    if (this.banks.length === 0) throw new ModelError('Learn reviewed defects after fitting.');
    // One or the other: the memory's weight is chosen on the bank's own scale, not each place's.
    this.forgetDefects();
    this.forgetPlaces();
    if (this.tiles) return null;
    const read: { defects: ImagePatches[]; good: ImagePatches[] } = { defects: [], good: [] };
    try {
      for (const [which, batches] of [
        ['defects', defects],
        ['good', good],
      ] as const) {
        for await (const batch of batches) {
          if (signal?.aborted)
            throw new CancelledError('Learning the reviewed defects was cancelled.');
          read[which].push(...(await this.imagePatches(batch.images)));
        }
      }
      if (read.defects.length < MIN_MEMORY_DEFECTS || read.good.length === 0) return null;
      const bank = this.banks[0]!;
      const choice = await chooseMemory(
        read.defects,
        read.good,
        bank.typical,
        1 / this.banks.length,
        this.config.imageScoring,
      );
      if (choice.weight > 0)
        this.memory = new DefectMemory(
          DefectMemory.rowsOf(
            read.defects,
            cutFor(choice.aboveGood, read.good, this.config.imageScoring),
          ),
          choice.weight,
        );
      this.memoryCheck = {
        defectImages: read.defects.length,
        goodImages: read.good.length,
        weight: choice.weight,
        aboveGood: choice.aboveGood,
        candidates: choice.candidates,
      };
      return { check: this.memoryCheck, outOfFold: choice.outOfFold };
    } finally {
      for (const image of [...read.defects, ...read.good]) image.rows.dispose();
    }
  }

  /**
   * Learns how to score the type's images from held-out `good` images and the same images with
   * defects painted in (PAINTED_DEFECTS of each image, painted as paintedDefectScores paints them
   * with `seed`): each place's normal (places.ts), kept where its check says it tells painted
   * defects better, and whether to score each image also in the other SCORED_VIEWS (kept where
   * the painted defects' AUROC, each way with its places where they are kept, gains VIEWS_GAIN: a
   * part that turns, a crack in grain, a commutator's bar ends).
   * `views` 'on' or 'off' sets the views instead; both ways are still measured and recorded.
   * Returns the check and each held-out image's score as the model now scores it (out of fold
   * where places are kept), good and painted, to set the threshold and validation figures with;
   * null when tiled (a tile's places are not the image's), or with fewer than MIN_PLACE_IMAGES
   * images read.
   */
  async learnPlaces(
    good: AsyncIterable<FitBatch> | Iterable<FitBatch>,
    seed: number,
    signal?: AbortSignal,
    views: ViewsChoice = 'auto',
  ): Promise<LearnedPlaces | null> {
    if (this.banks.length === 0) throw new ModelError('Learn places after fitting.');
    // A type with defect labels learns those instead (learnDefects).
    this.forgetDefects();
    this.forgetPlaces();
    if (this.tiles) return null;
    const newMaps = () => ({
      check: [] as Float32Array[],
      checkPainted: [] as Float32Array[],
      good: [] as Float32Array[],
      painted: [] as Float32Array[],
    });
    const ways = { asIs: newMaps(), inViews: newMaps() };
    let grid: [number, number] = [0, 0];
    // Each map [h·w] of `images`, in order: as the model scores, and by the bank alone (the
    // same maps when there is no head); the images as they are and in views, from one pass of
    // the encoder a view.
    const read = async (images: tf.Tensor4D) => {
      const tensors = tf.tidy(() => {
        const terms = this.bankTerms(images);
        const viewed = this.inViews(images, terms);
        return [terms.scores, terms.bankScores, viewed.scores, viewed.bankScores];
      });
      const [count, h, w] = tensors[0]!.shape;
      grid = [h, w];
      const perImage = async (maps: tf.Tensor3D) => {
        const values = (await maps.data()) as Float32Array;
        return Array.from({ length: count }, (_, i) => values.slice(i * h * w, (i + 1) * h * w));
      };
      try {
        const [model, bank, viewedModel, viewedBank] = await Promise.all(tensors.map(perImage));
        return {
          asIs: { model: model!, check: this.head ? bank! : model! },
          inViews: { model: viewedModel!, check: this.head ? viewedBank! : viewedModel! },
        };
      } finally {
        tf.dispose(tensors);
      }
    };
    const rng = new Rng(seed);
    for await (const batch of good) {
      if (signal?.aborted) throw new CancelledError('Learning the places was cancelled.');
      const scored = await read(batch.images);
      // Painted as paintedDefectScores paints them.
      const perKind: Awaited<ReturnType<typeof read>>[] = [];
      for (const painted of paintedKinds(batch.images, rng)) perKind.push(await read(painted));
      for (const way of ['asIs', 'inViews'] as const) {
        const maps = ways[way];
        maps.good.push(...scored[way].model);
        maps.check.push(...scored[way].check);
        for (let i = 0; i < batch.images.shape[0]; i++) {
          for (const kind of perKind) {
            maps.painted.push(kind[way].model[i]!);
            maps.checkPainted.push(kind[way].check[i]!);
          }
        }
      }
    }
    if (ways.asIs.good.length < MIN_PLACE_IMAGES) return null;
    const { imageScoring } = this.config;
    const score = (map: Float32Array) => imageScoreOf(map, grid, imageScoring);
    // Each way judged as the model would score in it: relative to each place where that tells the
    // painted defects better (out of fold), else as they are. Judged without the places, the
    // painted defects refused the views for kolektor, whose real cracks gain from them.
    const byWay = {
      asIs: choosePlaces(ways.asIs, PAINTED_DEFECTS.length, grid, imageScoring),
      inViews: choosePlaces(ways.inViews, PAINTED_DEFECTS.length, grid, imageScoring),
    };
    const judged = ({ check }: LearnedPlaces) => (check.used ? check.placedAuroc : check.auroc);
    const [viewsOff, viewedAuroc] = [judged(byWay.asIs), judged(byWay.inViews)];
    const viewed = views === 'auto' ? viewedAuroc >= viewsOff + VIEWS_GAIN : views === 'on';
    const maps = viewed ? ways.inViews : ways.asIs;
    const chosen = viewed ? byWay.inViews : byWay.asIs;
    if (chosen.stats) this.places = new Places(chosen.stats, grid);
    this.placesCheck = {
      ...chosen.check,
      viewedAuroc,
      viewsOff,
      viewed,
      ...(views !== 'auto' ? { viewsSet: views } : {}),
    };
    return {
      check: this.placesCheck,
      // Without places, each image as the model now scores it.
      good: chosen.check.used ? chosen.good : maps.good.map(score),
      painted: chosen.check.used ? chosen.painted : maps.painted.map(score),
    };
  }

  /** Drops what learnPlaces learned: the places and the views, if any. */
  forgetPlaces(): void {
    this.places?.dispose();
    this.places = null;
    this.placesCheck = null;
  }

  /** Drops what reviewed defects taught, if anything. */
  forgetDefects(): void {
    this.memory?.dispose();
    this.memory = null;
    this.memoryCheck = null;
  }

  /** Each image's first-scale patch features, bank distances and patch scores (learnDefects). */
  private async imagePatches(images: tf.Tensor4D): Promise<ImagePatches[]> {
    const [rows, distances, scores] = tf.tidy(() => {
      const terms = this.patchTerms(images);
      const [count, h, w] = terms.scores.shape;
      return [terms.rows.reshape([count, h * w, -1]) as tf.Tensor3D, terms.fromBank, terms.scores];
    });
    const grid: [number, number] = [scores.shape[1], scores.shape[2]];
    try {
      const patches = rows.shape[1];
      const d = (await distances.data()) as Float32Array;
      const s = (await scores.data()) as Float32Array;
      const perImage = tf.unstack(rows) as tf.Tensor2D[];
      return perImage.map((imageRows, i) => ({
        rows: imageRows,
        distances: d.slice(i * patches, (i + 1) * patches),
        scores: s.slice(i * patches, (i + 1) * patches),
        grid,
      }));
    } finally {
      tf.dispose([rows, distances, scores]);
    }
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
    return patchResults(
      patchScores,
      [height, width],
      options.anomalyMaps ?? false,
      this.config.imageScoring,
    );
  }

  /**
   * Image scores of `images` as the model scores them and by its banks alone (without the defect
   * head or memory), as `score` gives them and as it gives them `without` those: from one pass
   * of the encoder where nothing else was learned yet and it is not tiled (a fresh candidate,
   * judged on painted defects), else from two.
   */
  async scoresWithBank(images: tf.Tensor4D): Promise<{ model: number[]; bank: number[] }> {
    if (this.banks.length === 0) throw new ModelError('This one-class detector is not fitted yet.');
    const scoresOf = async (results: Promise<ScoreResult[]>) => (await results).map((r) => r.score);
    if (this.tiles || this.places || this.viewed) {
      return {
        model: await scoresOf(this.score(images)),
        bank: await this.without('head', () =>
          this.without('memory', () => scoresOf(this.score(images))),
        ),
      };
    }
    const perImage = tf.tidy(() => {
      const terms = this.bankTerms(images);
      return tf.stack([
        imageScores(terms.scores, this.config.imageScoring),
        imageScores(terms.bankScores, this.config.imageScoring),
      ]);
    });
    try {
      const values = Array.from((await perImage.data()) as Float32Array);
      const count = images.shape[0];
      return { model: values.slice(0, count), bank: values.slice(count) };
    } finally {
      perImage.dispose();
    }
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
    const head = this.head
      ? { channels: this.head.channels, hidden: this.head.hidden, scale: this.head.scale }
      : null;
    if (this.head) await writeTensor(join(dir, HEAD_FILE), this.head.flat());
    const memory = this.memory
      ? { size: this.memory.size, channels: this.memory.rowsT.shape[0], weight: this.memory.weight }
      : null;
    if (this.memory) await writeTensor(join(dir, MEMORY_FILE), this.memory.rows());
    const places = this.places ? { grid: this.places.grid } : null;
    if (this.places) await writeTensor(join(dir, PLACES_FILE), this.places.flat());
    await writeFile(
      join(dir, CONFIG_FILE),
      JSON.stringify(
        {
          kind: this.kind,
          config: this.config,
          banks: saved,
          head,
          headCheck: this.headCheck,
          memory,
          memoryCheck: this.memoryCheck,
          places,
          placesCheck: this.placesCheck,
        },
        null,
        2,
      ),
    );
  }

  dispose(): void {
    disposeBanks(this.banks);
    this.banks = [];
    this.head?.dispose();
    this.head = null;
    this.forgetDefects();
    this.forgetPlaces();
    this.encoder.dispose();
  }

  static async load(dir: string): Promise<PatchcoreDetector> {
    const saved = JSON.parse(await readFile(join(dir, CONFIG_FILE), 'utf8')) as {
      config: Partial<PatchcoreConfig>;
      banks?: SavedBank[];
      head?: { channels: number; hidden: number; scale: number } | null;
      headCheck?: DefectHeadCheckDto | null;
      memory?: { size: number; channels: number; weight: number } | null;
      memoryCheck?: DefectMemoryDto | null;
      places?: { grid: [number, number] } | null;
      placesCheck?: PlacesDto | null;
      /** Single-scale folders written before banks per scale (their scores were not divided). */
      bank?: { size: number; channels: number };
    };
    const banks = saved.banks ?? (saved.bank ? [{ ...saved.bank, typical: 1 }] : []);
    const files: Float32Array[] = [];
    for (const [i, { size, channels }] of banks.entries())
      files.push(await readFloats(join(dir, bankFile(i)), size * channels));
    const head = saved.head
      ? await readFloats(
          join(dir, HEAD_FILE),
          DefectHead.floatCount(saved.head.channels, saved.head.hidden),
        )
      : null;
    const memory = saved.memory
      ? await readFloats(join(dir, MEMORY_FILE), saved.memory.size * saved.memory.channels)
      : null;
    const places = saved.places
      ? await readFloats(join(dir, PLACES_FILE), 2 * saved.places.grid[0] * saved.places.grid[1])
      : null;
    // Saved before the image scoring was recorded: scored, and thresholded, on TOP_PATCHES.
    const config = {
      ...defaultPatchcoreConfig,
      imageScoring: TOP_PATCHES,
      ...saved.config,
    };
    if (banks.length !== config.scales.length)
      throw new ModelError(
        `${join(dir, CONFIG_FILE)} names ${config.scales.length} scales but ${banks.length} banks.`,
      );
    const detector = new PatchcoreDetector(await loadEncoder(join(dir, 'encoder')), config);
    detector.banks = banks.map(({ size, channels, typical }, i) =>
      makeBank(tf.tensor2d(files[i]!, [size, channels]), typical),
    );
    if (head && saved.head) {
      detector.head = DefectHead.fromFloats(head, saved.head.channels, saved.head.hidden);
      detector.head.scale = saved.head.scale;
    }
    detector.headCheck = saved.headCheck ?? null;
    if (memory && saved.memory)
      detector.memory = new DefectMemory(
        tf.tensor2d(memory, [saved.memory.size, saved.memory.channels]),
        saved.memory.weight,
      );
    detector.memoryCheck = saved.memoryCheck ?? null;
    if (places && saved.places) detector.places = Places.fromFloats(places, saved.places.grid);
    detector.placesCheck = saved.placesCheck ?? null;
    return detector;
  }
}

/**
 * `work` run without those of a one-class detector's learned `parts` it has; null for any other
 * detector or without any of them.
 */
export async function withoutLearned<T>(
  detector: Detector,
  parts: readonly LearnedPart[],
  work: () => Promise<T>,
): Promise<T | null> {
  if (!(detector instanceof PatchcoreDetector)) return null;
  const learned = parts.filter((part) => detector.has(part));
  if (learned.length === 0) return null;
  const run = learned.reduce<() => Promise<T>>(
    (inner, part) => () => detector.without(part, inner),
    work,
  );
  return run();
}

/**
 * `images`' scores as `detector` scores them, and by a one-class detector's banks alone where it
 * has a defect head or memory to leave out (PatchcoreDetector.scoresWithBank); `bank` is null
 * otherwise.
 */
export async function scoresWithBank(
  detector: Detector,
  images: tf.Tensor4D,
): Promise<{ model: number[]; bank: number[] | null }> {
  if (detector instanceof PatchcoreDetector && (detector.has('head') || detector.has('memory')))
    return detector.scoresWithBank(images);
  return { model: (await detector.score(images)).map((r) => r.score), bank: null };
}

/**
 * Teaches a one-class detector the reviewed `defects` (PatchcoreDetector.learnDefects), judged
 * against the held-out `good` images; null for any other detector.
 */
export async function learnReviewedDefects(
  detector: Detector,
  defects: AsyncIterable<FitBatch> | Iterable<FitBatch>,
  good: AsyncIterable<FitBatch> | Iterable<FitBatch>,
  signal?: AbortSignal,
): Promise<{ check: DefectMemoryDto; outOfFold: number[] } | null> {
  return detector instanceof PatchcoreDetector
    ? detector.learnDefects(defects, good, signal)
    : null;
}

/**
 * Teaches a one-class detector each place's normal from the held-out `good` images
 * (PatchcoreDetector.learnPlaces); null for any other detector, or where it learns none.
 */
export async function learnPlaces(
  detector: Detector,
  good: AsyncIterable<FitBatch> | Iterable<FitBatch>,
  seed: number,
  signal?: AbortSignal,
  views: ViewsChoice = 'auto',
): Promise<LearnedPlaces | null> {
  return detector instanceof PatchcoreDetector
    ? detector.learnPlaces(good, seed, signal, views)
    : null;
}

/** A one-class detector's defect-head check; null for any other detector or without one. */
export function defectHeadCheck(detector: Detector): DefectHeadCheckDto | null {
  return detector instanceof PatchcoreDetector ? detector.headCheck : null;
}

/**
 * The defect head's scale (DefectHead.scale): the spread of the bank's image scores over the
 * spread of the head's, on held-out good images' patches [P, C]; 0 when the head does not vary.
 */
async function headScale(head: DefectHead, bank: Bank, images: tf.Tensor2D[]): Promise<number> {
  const both = tf.tidy(() =>
    tf.stack([
      tf.concat(
        images.map((f) =>
          imageScores(
            tf
              .sqrt(nearestDistances(f, bank.bankT, bank.norms))
              .div(bank.typical)
              .reshape([1, -1, 1]) as tf.Tensor3D,
          ),
        ),
      ),
      tf.concat(
        images.map((f) => imageScores(head.probabilities(f).reshape([1, -1, 1]) as tf.Tensor3D)),
      ),
    ]),
  );
  const values = await both.data();
  both.dispose();
  const count = images.length;
  const spread = (xs: ArrayLike<number>): number => {
    const mean = Array.from(xs).reduce((a, b) => a + b, 0) / xs.length;
    return Math.sqrt(Array.from(xs).reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
  };
  const [bankSpread, headSpread] = [
    spread(values.subarray(0, count)),
    spread(values.subarray(count)),
  ];
  return headSpread > 1e-6 ? bankSpread / headSpread : 0;
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
