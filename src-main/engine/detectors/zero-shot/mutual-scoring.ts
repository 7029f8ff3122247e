// The zero-shot batch detector (MuSc-style mutual scoring, Li et al. ICLR 2024): with no labels
// and no training, a patch of one image is scored by how far it is from the closest patch of
// each *other* image of the same folder. Most images are good, so a normal patch finds close
// matches almost everywhere and a defect patch finds none. Per patch we average the smallest
// distances over the reference images, which ignores the few references that share a defect.
// Each reference keeps a greedy coreset of its patches (as PatchCore's bank): stride-4 features
// at 448 px are 12,544 patches an image, and comparing every pair of them would be 10× slower.
// Where the folder's parts are shot in one pose, each patch is then judged against how the
// references score at its place (learnPlaces).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_INPUT_SIZE, DETAIL_LEVELS, type FeatureName } from '../../../shared/dto.js';
import { BadArgumentError, CancelledError, ModelError } from '../../../shared/errors.js';
import { Rng } from '../../../shared/random.js';
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
import { greedyCoreset } from '../patchcore/coreset.js';
import { MIN_PLACE_IMAGES, Places, choosePlaces, robustPlaceStats } from '../places.js';
import { PAINTED_DEFECTS, paintedKinds } from '../../synthetic-defects.js';
import type { PlacesDto } from '../../../shared/dto.js';
import { calibrateUnlabeled, type Calibration } from '../../threshold.js';
import {
  TOP_PATCHES,
  nearestDistances,
  patchFeatures,
  patchResults,
  readFloats,
  writeTensor,
  type PatchFeatureConfig,
} from '../patch-features.js';

export interface ZeroShotConfig {
  /** Short side images are scored at. */
  inputSize: number;
  /** Width / height of the folder's images (input-shape.ts sharedAspect); 1 scores squares. */
  aspect: number;
  /**
   * Short side images are scored at in tiles of `inputSize` (tiling.ts), each tile a reference
   * image of its own; null scores the whole image at `inputSize`.
   */
  tileScale: number | null;
  features: PatchFeatureConfig;
  /**
   * Reference images kept from the folder (a uniform sample). Each image is compared with all of
   * them, so this bounds memory and time whatever the folder's size.
   */
  references: number;
  /**
   * Per patch, its distances to the closest references (each fraction of them) are averaged, and
   * those averages averaged: the closest few say a rare good patch is normal, the wider set that
   * a defect shared by a few images is not (EVALUATION.md, session 27).
   */
  closestFractions: number[];
  /**
   * Fraction of each reference image's patches kept (greedy coreset). Scoring time is
   * proportional to it; the coreset keeps every kind of patch, rare normal ones included.
   */
  referenceCoreset: number;
  seed: number;
}

/** Side of the neighbourhood a finer map's patch is averaged over (zeroShotFeatures). */
const CONTEXT = 3;

/**
 * Zero-shot's patch features on `layers`: stride-16 maps patch by patch, finer maps averaged over
 * their 3×3 neighbourhood. On the real dev folders (EVALUATION.md, session 27) single patches at
 * stride 16 took casting's impellers a little off chance and lifted the solar cells, while single
 * patches at stride 8 too cost the cells their context (mono −0.004, poly −0.018 at seed 0).
 */
export function zeroShotFeatures(layers: readonly FeatureName[]): PatchFeatureConfig {
  return {
    layers: [...layers],
    neighbourhood: layers.map((name) =>
      name === 'stride16' || name === 'stride16mid' ? 1 : CONTEXT,
    ),
  };
}

export const defaultZeroShotConfig: ZeroShotConfig = {
  inputSize: DEFAULT_INPUT_SIZE,
  aspect: 1,
  tileScale: null,
  // Stride 8 + 16, not the one-class default of 4 + 8: on real ELPV cells (cracks and dark areas
  // larger than a stride-4 patch) 4 + 8 lowered zero-shot AUROC (a 232-image sample: 0.912 /
  // 0.750 → 0.861 / 0.634), while the synthetic textures' thin defects want it (0.881 → 0.930 at
  // 224 px, 0.959 at 448). No label says which a new folder needs, so the inspector's Detail
  // chooses (DETAIL_LEVELS); see EVALUATION.md. The stride-16 map from a middle block, and
  // patch by patch (zeroShotFeatures): both measured on the real dev folders in session 27.
  features: zeroShotFeatures(DETAIL_LEVELS.standard.zeroShot.layers),
  references: 24,
  closestFractions: [0.1, 0.5],
  referenceCoreset: 0.1,
  seed: 0,
};

/**
 * Relative distance between two images' mean patch features below which they are the same image
 * (or exact copies). Different images of one type differ by far more (EVALUATION.md).
 */
const SAME_IMAGE = 1e-4;
/**
 * Patches every reference keeps at least: a small image (64 patches at 64 px with stride 8 + 16)
 * keeps them all rather than a handful. The measured settings keep 78 or more (EVALUATION.md).
 */
const MIN_REFERENCE_PATCHES = 64;
const CONFIG_FILE = 'detector.json';
const REFERENCES_FILE = 'references.bin';
const FINGERPRINTS_FILE = 'fingerprints.bin';
const PLACES_FILE = 'places.bin';
/** Reference images put through the encoder at once while the places are learned. */
const PLACES_BATCH = 8;

// A type rather than an interface, so tf.tidy can return one (a TensorContainer).
type Reference = {
  /** Coreset patch features transposed [C, M] and their squared norms [M]. */
  featuresT: tf.Tensor2D;
  norms: tf.Tensor1D;
  /** Mean feature of all the image's patches [C]: recognises the image when it is scored. */
  fingerprint: tf.Tensor1D;
};

/** The sampled references: their patch features [P, C] and, where places are learned, pixels. */
type Sampled = { patches: tf.Tensor2D[]; images: tf.Tensor3D[] };

function disposeSampled(sampled: Sampled): void {
  tf.dispose([...sampled.patches, ...sampled.images]);
}

/** Mean patch feature [B, C] of patch features [B, P, C] (see Reference.fingerprint). */
function fingerprints(queries: tf.Tensor3D): tf.Tensor2D {
  return tf.mean(queries, 1);
}

/** [K, B] true where reference k is query image b itself, by their fingerprints. */
function sameImages(queries: tf.Tensor3D, references: Reference[]): tf.Tensor2D {
  return tf.tidy(() => {
    const query = fingerprints(queries); // [B, C]
    const refs = tf.stack(references.map((r) => r.fingerprint)); // [K, C]
    const gap = tf.norm(tf.sub(refs.expandDims(1), query.expandDims(0)), 'euclidean', 2); // [K, B]
    return tf.lessEqual(gap, tf.mul(tf.norm(refs, 'euclidean', 1, true), SAME_IMAGE));
  }) as tf.Tensor2D;
}

/**
 * Patch scores [B, P] for patch features [B, P, C]: per patch, the nearest-patch distance to each
 * reference, averaged over the closest of the references (each of `closestFractions` of them),
 * those averages averaged. References marked in `same` [K, B] (the scored image itself) are left
 * out.
 */
function mutualScores(
  queries: tf.Tensor3D,
  references: Reference[],
  closestFractions: readonly number[],
  same: tf.Tensor2D,
): tf.Tensor2D {
  return tf.tidy(() => {
    const [count, patches, channels] = queries.shape;
    const flat = queries.reshape([count * patches, channels]) as tf.Tensor2D;
    // [K, B, P] distances from every patch to its nearest patch in each reference.
    const distances = tf.stack(
      references.map((r) =>
        tf.sqrt(nearestDistances(flat, r.featuresT, r.norms)).reshape([count, patches]),
      ),
    ) as tf.Tensor3D;
    // A reference identical to the image says nothing about it: push it out of the closest set.
    const far = tf.add(tf.max(distances), 1);
    const usable = tf.where(
      tf.broadcastTo(same.expandDims(2), distances.shape),
      tf.broadcastTo(far, distances.shape),
      distances,
    );
    const counts = closestFractions.map((f) =>
      Math.max(1, Math.round(f * (references.length - 1))),
    );
    // Ascending per patch: [B, P, the most any fraction takes].
    const nearest = tf.neg(
      tf.topk(tf.neg(tf.transpose(usable, [1, 2, 0])), Math.max(...counts)).values,
    );
    const means = counts.map((k) => tf.mean(nearest.slice([0, 0, 0], [-1, -1, k]), 2));
    return tf.div(tf.addN(means), means.length) as tf.Tensor2D;
  });
}

/** A reference from its kept patches [M, C]; call inside tf.tidy and return it from there. */
function makeReference(patches: tf.Tensor2D, fingerprint: tf.Tensor1D): Reference {
  return {
    featuresT: patches.transpose<tf.Tensor2D>(),
    norms: tf.sum<tf.Tensor1D>(tf.square(patches), 1),
    fingerprint: fingerprint.clone(),
  };
}

function disposeReferences(references: Reference[]): void {
  for (const r of references) tf.dispose([r.featuresT, r.norms, r.fingerprint]);
}

/** `detector`, made by the zero-shot registry entry, as the zero-shot detector it is. */
export function asZeroShot(detector: Detector): ZeroShotDetector {
  if (!(detector instanceof ZeroShotDetector))
    throw new ModelError('The zero-shot registry entry changed.');
  return detector;
}

export class ZeroShotDetector implements Detector {
  readonly kind = 'zero-shot' as const;
  readonly config: ZeroShotConfig;
  private references: Reference[] = [];
  private places: Places | null = null;
  /** What fitting measured of scoring relative to each place; null when it was not tried. */
  placesCheck: PlacesDto | null = null;

  constructor(
    readonly encoder: Encoder,
    config: Partial<ZeroShotConfig> = {},
  ) {
    this.config = {
      ...defaultZeroShotConfig,
      // An encoder without a middle stride-16 block (InceptionV3, an imported model) gives its last.
      ...(encoder.info.channels.stride16mid === undefined
        ? { features: zeroShotFeatures(['stride8', 'stride16']) }
        : {}),
      ...config,
    };
    const missing = this.config.features.layers.filter((l) => !encoder.info.channels[l]);
    if (missing.length > 0)
      throw new BadArgumentError(
        `The ${encoder.info.kind} encoder has no ${missing.join(' or ')} feature map; it has ${Object.keys(encoder.info.channels).join(', ')}.`,
      );
    if (this.config.references < 2)
      throw new BadArgumentError('Zero-shot scoring needs at least 2 reference images.');
    const { closestFractions } = this.config;
    if (closestFractions.length === 0 || closestFractions.some((f) => !(f > 0 && f <= 1)))
      throw new BadArgumentError(
        `Zero-shot's closest fractions must be in (0, 1]; got [${closestFractions.join(', ')}].`,
      );
    if (this.config.tileScale !== null)
      checkTileScale(this.config.tileScale, this.config.inputSize);
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

  get referenceCount(): number {
    return this.references.length;
  }

  /**
   * The threshold for the folder's own scores (calibrateUnlabeled). Relative to each place they
   * are about normal and are fitted as they are, not as logs.
   */
  calibrate(scores: ArrayLike<number>): Calibration {
    return calibrateUnlabeled(scores, { logScale: this.places === null });
  }

  /**
   * "Fitting" keeps a uniform random sample (reservoir sampling) of the folder's own images as
   * references — no labels, no training, one pass over any number of images — and learns each
   * place's normal from them where that helps (learnPlaces).
   */
  async fit(
    batches: AsyncIterable<FitBatch> | Iterable<FitBatch>,
    options: FitOptions = {},
  ): Promise<void> {
    const sampled = await this.sample(batches, options, !this.tiles);
    try {
      await this.setReferences(sampled.patches, options);
      await this.learnPlaces(sampled.images, sampled.patches, options.signal);
    } finally {
      disposeSampled(sampled);
    }
  }

  /**
   * `fit`, and also the patch scores [K, P] of the K sampled images against the other references:
   * how the folder's own images score, for scaling a type's scores without labels.
   */
  async fitWithScores(
    batches: AsyncIterable<FitBatch> | Iterable<FitBatch>,
    options: FitOptions = {},
  ): Promise<tf.Tensor2D> {
    const sampled = (await this.sample(batches, options, false)).patches;
    try {
      await this.setReferences(sampled, options);
      const rows = sampled.map((patches, k) =>
        tf.tidy(() => this.referenceScores(patches.expandDims(0) as tf.Tensor3D, k)),
      );
      try {
        return tf.concat(rows) as tf.Tensor2D;
      } finally {
        tf.dispose(rows);
      }
    } finally {
      tf.dispose(sampled);
    }
  }

  /**
   * Patch features [P, C] of a uniform random sample of the images (the references to be); tiled,
   * of the tiles. With `keepImages`, each one's pixels too.
   */
  private async sample(
    fitBatches: AsyncIterable<FitBatch> | Iterable<FitBatch>,
    fitOptions: FitOptions,
    keepImages: boolean,
  ): Promise<Sampled> {
    const { batches, options } = fitInputs(fitBatches, fitOptions, this.tiles);
    const rng = new Rng(this.config.seed);
    const kept: tf.Tensor2D[] = [];
    const images: tf.Tensor3D[] = [];
    let seen = 0;
    try {
      for await (const batch of batches) {
        if (options.signal?.aborted) throw new CancelledError('Fitting was cancelled.');
        const features = tf.tidy(() =>
          patchFeatures(this.encoder, batch.images, this.config.features),
        );
        try {
          const [count, h, w, c] = features.shape;
          for (let i = 0; i < count; i++, seen++) {
            const slot = rng.reservoirSlot(seen, this.config.references);
            if (slot < 0) continue;
            const patches = tf.tidy(
              () => features.slice([i, 0, 0, 0], [1, h, w, c]).reshape([h * w, c]) as tf.Tensor2D,
            );
            kept[slot]?.dispose();
            kept[slot] = patches;
            if (keepImages) {
              images[slot]?.dispose();
              images[slot] = tf.tidy(() => batch.images.slice(i, 1).squeeze([0]) as tf.Tensor3D);
            }
          }
        } finally {
          features.dispose();
        }
        options.onProgress?.(seen, options.total ?? seen, 'sampling reference images');
      }
      if (kept.length < 2)
        throw new BadArgumentError(
          `Zero-shot scoring needs at least 2 images of the type; got ${kept.length}.`,
        );
      return { patches: kept, images };
    } catch (error) {
      disposeSampled({ patches: kept, images });
      throw error;
    }
  }

  /** References from full patch sets [P, C]: each image's coreset and fingerprint. */
  private async setReferences(patchSets: tf.Tensor2D[], options: FitOptions = {}): Promise<void> {
    const references: Reference[] = [];
    try {
      for (const [k, patches] of patchSets.entries()) {
        if (options.signal?.aborted) throw new CancelledError('Fitting was cancelled.');
        const size = Math.max(
          MIN_REFERENCE_PATCHES,
          Math.round(patches.shape[0] * this.config.referenceCoreset),
        );
        const indices = await greedyCoreset(patches, {
          size,
          seed: this.config.seed,
          ...(options.signal ? { signal: options.signal } : {}),
        });
        const fingerprint = tf.tidy(() => fingerprints(patches.expandDims(0) as tf.Tensor3D));
        references.push(
          tf.tidy(() => {
            const kept = size >= patches.shape[0] ? patches : tf.gather(patches, indices);
            return makeReference(kept, fingerprint.reshape([-1]) as tf.Tensor1D);
          }),
        );
        fingerprint.dispose();
        options.onProgress?.(k + 1, patchSets.length, 'selecting reference patches');
      }
    } catch (error) {
      disposeReferences(references);
      throw error;
    }
    disposeReferences(this.references);
    this.references = references;
    this.forgetPlaces();
  }

  /**
   * Patch scores [B, P] of references `first` … `first` + B − 1 from their patch features
   * [B, P, C], each against the other references: reference k is the image itself, marked by
   * index rather than by fingerprint.
   */
  private referenceScores(queries: tf.Tensor3D, first: number): tf.Tensor2D {
    return tf.tidy(() => {
      const count = this.references.length;
      const size = queries.shape[0];
      const same = tf.eye(count).slice([0, first], [count, size]).cast('bool') as tf.Tensor2D;
      return mutualScores(queries, this.references, this.config.closestFractions, same);
    });
  }

  /**
   * Each place's normal, learned from the reference images (`images`, in reference order, and
   * `patches`, their patch features [P, C]) as the
   * one-class detector learns it from held-out good images (places.ts), with two differences: the
   * folder holds defects, so a place's normal is its median and median deviation, which a few
   * defective references do not move; and each reference is scored against the others. Kept where
   * defects painted into one half of the references are better told from that half's own images
   * relative to the other half's places than as they are: commutators at both seeds, the ELPV
   * cells at one; never the cast impeller, which turns between shots (EVALUATION.md). Not for
   * tiles (a tile's places are not the image's) or fewer than MIN_PLACE_IMAGES references.
   */
  private async learnPlaces(
    images: tf.Tensor3D[],
    patches: tf.Tensor2D[],
    signal?: AbortSignal,
  ): Promise<void> {
    if (this.tiles || images.length < MIN_PLACE_IMAGES) return;
    const count = images.length;
    let grid: [number, number] = [0, 0];
    // Patch maps [h·w] of the references from `start` on, from their patch features [B, P, C],
    // each scored against the others.
    const mapsOf = async (queries: tf.Tensor3D, start: number): Promise<Float32Array[]> => {
      const size = queries.shape[0];
      const scores = this.referenceScores(queries, start);
      const values = (await scores.data()) as Float32Array;
      scores.dispose();
      const patchCount = values.length / size;
      return Array.from({ length: size }, (_, i) =>
        values.slice(i * patchCount, (i + 1) * patchCount),
      );
    };
    // The same of images [B, H, W, 3], through the encoder.
    const imageMaps = async (batch: tf.Tensor4D, start: number): Promise<Float32Array[]> => {
      const queries = tf.tidy(() => {
        const f = patchFeatures(this.encoder, batch, this.config.features);
        const [size, h, w, c] = f.shape;
        grid = [h, w];
        return f.reshape([size, h * w, c]) as tf.Tensor3D;
      });
      try {
        return await mapsOf(queries, start);
      } finally {
        queries.dispose();
      }
    };
    const good: Float32Array[] = [];
    const painted: Float32Array[] = [];
    const rng = new Rng(this.config.seed);
    for (let start = 0; start < count; start += PLACES_BATCH) {
      if (signal?.aborted) throw new CancelledError('Fitting was cancelled.');
      const end = start + PLACES_BATCH;
      const batch = tf.stack(images.slice(start, end)) as tf.Tensor4D;
      const features = tf.stack(patches.slice(start, end)) as tf.Tensor3D;
      try {
        good.push(...(await mapsOf(features, start)));
        const perKind: Float32Array[][] = [];
        for (const copy of paintedKinds(batch, rng)) perKind.push(await imageMaps(copy, start));
        for (let i = 0; i < batch.shape[0]; i++) for (const kind of perKind) painted.push(kind[i]!);
      } finally {
        tf.dispose([batch, features]);
      }
    }
    const maps = { check: good, checkPainted: painted, good, painted };
    const chosen = choosePlaces(maps, PAINTED_DEFECTS.length, grid, TOP_PATCHES, robustPlaceStats);
    this.placesCheck = chosen.check;
    if (chosen.stats) this.places = new Places(chosen.stats, grid);
  }

  private forgetPlaces(): void {
    this.places?.dispose();
    this.places = null;
    this.placesCheck = null;
  }

  /**
   * Patch scores [B, h, w] on the whole images' patch grid: mean over the closest references of
   * the nearest-patch distance; tiled, tile by tile and stitched.
   */
  patchScores(images: tf.Tensor4D): tf.Tensor3D {
    const tiles = this.tiles;
    return tiles
      ? tiledPatchScores(images, tiles, (tile) => this.scoresAtInputSize(tile))
      : this.scoresAtInputSize(images);
  }

  /** `patchScores` of images at the input size (whole images, or tiles). */
  private scoresAtInputSize(images: tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => {
      const f = patchFeatures(this.encoder, images, this.config.features);
      const [count, h, w, c] = f.shape;
      const queries = f.reshape([count, h * w, c]) as tf.Tensor3D;
      let references = this.references;
      if (references.length === 0) {
        // Not fitted: the batch is its own reference set, every patch kept.
        if (count < 2)
          throw new ModelError(
            'Zero-shot scoring of a single image needs reference images: fit on the folder first.',
          );
        references = Array.from({ length: count }, (_, i) => {
          const p = queries.slice([i, 0, 0], [1, h * w, c]) as tf.Tensor3D;
          return makeReference(p.reshape([h * w, c]), fingerprints(p).reshape([c]));
        });
      }
      const same = sameImages(queries, references);
      const scores = mutualScores(queries, references, this.config.closestFractions, same).reshape([
        count,
        h,
        w,
      ]) as tf.Tensor3D;
      return this.places ? this.places.apply(scores) : scores;
    });
  }

  async score(
    images: tf.Tensor4D,
    options: { anomalyMaps?: boolean } = {},
  ): Promise<ScoreResult[]> {
    const [, height, width] = images.shape;
    return patchResults(this.patchScores(images), [height, width], options.anomalyMaps ?? false);
  }

  async save(dir: string): Promise<void> {
    if (this.references.length === 0)
      throw new ModelError('Cannot save a zero-shot detector before it has reference images.');
    await this.encoder.save(join(dir, 'encoder'));
    const [channels, patches] = this.references[0]!.featuresT.shape;
    await writeTensor(
      join(dir, REFERENCES_FILE),
      tf.tidy(() => tf.stack(this.references.map((r) => r.featuresT.transpose()))),
    );
    await writeTensor(
      join(dir, FINGERPRINTS_FILE),
      tf.tidy(() => tf.stack(this.references.map((r) => r.fingerprint))),
    );
    if (this.places) await writeTensor(join(dir, PLACES_FILE), this.places.flat());
    await writeFile(
      join(dir, CONFIG_FILE),
      JSON.stringify(
        {
          kind: this.kind,
          config: this.config,
          references: { count: this.references.length, patches, channels },
          placesCheck: this.placesCheck,
          places: this.places ? { grid: this.places.grid } : null,
        },
        null,
        2,
      ),
    );
  }

  dispose(): void {
    disposeReferences(this.references);
    this.references = [];
    this.forgetPlaces();
    this.encoder.dispose();
  }

  static async load(dir: string): Promise<ZeroShotDetector> {
    const saved = JSON.parse(await readFile(join(dir, CONFIG_FILE), 'utf8')) as {
      // closestFraction alone in folders saved before session 27, which score as they did.
      config: ZeroShotConfig & { closestFraction?: number };
      references: { count: number; patches: number; channels: number };
      // Both absent in folders saved before zero-shot learned places.
      placesCheck?: PlacesDto | null;
      places?: { grid: [number, number] } | null;
    };
    const { count, patches, channels } = saved.references;
    const values = await readFloats(join(dir, REFERENCES_FILE), count * patches * channels);
    // Folders saved before references were coresets hold every patch and no fingerprints; the
    // mean of those patches is the fingerprint.
    const prints = await readFloats(join(dir, FINGERPRINTS_FILE), count * channels).catch(
      (error: unknown) => {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      },
    );
    const { closestFraction, ...config } = saved.config;
    const detector = new ZeroShotDetector(await loadEncoder(join(dir, 'encoder')), {
      ...config,
      ...(closestFraction !== undefined && !config.closestFractions
        ? { closestFractions: [closestFraction] }
        : {}),
    });
    detector.references = Array.from({ length: count }, (_, i) =>
      tf.tidy(() => {
        const patchSet = tf.tensor2d(
          values.subarray(i * patches * channels, (i + 1) * patches * channels),
          [patches, channels],
        );
        const fingerprint = prints
          ? tf.tensor1d(prints.subarray(i * channels, (i + 1) * channels))
          : (tf.mean(patchSet, 0) as tf.Tensor1D);
        return makeReference(patchSet, fingerprint);
      }),
    );
    detector.placesCheck = saved.placesCheck ?? null;
    if (saved.places) {
      const [h, w] = saved.places.grid;
      try {
        const places = await readFloats(join(dir, PLACES_FILE), 2 * h * w);
        detector.places = Places.fromFloats(places, saved.places.grid);
      } catch (error) {
        detector.dispose();
        throw error;
      }
    }
    return detector;
  }
}
