// The zero-shot batch detector (MuSc-style mutual scoring, Li et al. ICLR 2024): with no labels
// and no training, a patch of one image is scored by how far it is from the closest patch of
// each *other* image of the same folder. Most images are good, so a normal patch finds close
// matches almost everywhere and a defect patch finds none. Per patch we average the smallest
// distances over the reference images, which ignores the few references that share a defect.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_INPUT_SIZE } from '../../../shared/dto.js';
import { BadArgumentError, CancelledError, ModelError } from '../../../shared/errors.js';
import { Rng } from '../../../shared/random.js';
import type { Encoder } from '../../encoders/encoder.js';
import { loadEncoder } from '../../encoders/registry.js';
import type { Detector, FitBatch, FitOptions, ScoreResult } from '../detector.js';
import {
  defaultPatchFeatures,
  nearestDistances,
  patchFeatures,
  patchResults,
  type PatchFeatureConfig,
} from '../patch-features.js';

export interface ZeroShotConfig {
  inputSize: number;
  features: PatchFeatureConfig;
  /**
   * Reference images kept from the folder (a uniform sample). Each image is compared with all of
   * them, so this bounds memory and time whatever the folder's size.
   */
  references: number;
  /** Fraction of the references whose distances are averaged per patch (the closest ones). */
  closestFraction: number;
  seed: number;
}

export const defaultZeroShotConfig: ZeroShotConfig = {
  inputSize: DEFAULT_INPUT_SIZE,
  features: defaultPatchFeatures,
  references: 24,
  closestFraction: 0.3,
  seed: 0,
};

/** Below this mean patch distance a reference is the image itself (or an exact copy). */
const SAME_IMAGE = 1e-6;
const CONFIG_FILE = 'detector.json';
const REFERENCES_FILE = 'references.bin';

interface Reference {
  /** Patch features transposed [C, P] and their squared norms [P]. */
  featuresT: tf.Tensor2D;
  norms: tf.Tensor1D;
}

/**
 * Patch scores [B, P] for patch features [B, P, C]: per patch, the nearest-patch distance to each
 * reference, averaged over the closest `closestFraction` of the references. A reference that is
 * the scored image itself is left out.
 */
function mutualScores(
  queries: tf.Tensor3D,
  references: Reference[],
  closestFraction: number,
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
    const same = tf.less(tf.mean(distances, 2, true), SAME_IMAGE);
    const far = tf.add(tf.max(distances), 1);
    const usable = tf.where(
      tf.broadcastTo(same, distances.shape),
      tf.broadcastTo(far, distances.shape),
      distances,
    );
    const closest = Math.max(1, Math.round(closestFraction * (references.length - 1)));
    const perPatch = tf.neg(tf.topk(tf.neg(tf.transpose(usable, [1, 2, 0])), closest).values); // [B, P, closest]
    return tf.mean(perPatch, 2) as tf.Tensor2D;
  });
}

export class ZeroShotDetector implements Detector {
  readonly kind = 'zero-shot' as const;
  readonly config: ZeroShotConfig;
  private references: Reference[] = [];

  constructor(
    readonly encoder: Encoder,
    config: Partial<ZeroShotConfig> = {},
  ) {
    this.config = { ...defaultZeroShotConfig, ...config };
    if (this.config.references < 2)
      throw new BadArgumentError('Zero-shot scoring needs at least 2 reference images.');
  }

  get inputSize(): number {
    return this.config.inputSize;
  }

  get referenceCount(): number {
    return this.references.length;
  }

  /**
   * "Fitting" keeps a uniform random sample (reservoir sampling) of the folder's own images as
   * references — no labels, no training, one pass over any number of images.
   */
  async fit(
    batches: AsyncIterable<FitBatch> | Iterable<FitBatch>,
    options: FitOptions = {},
  ): Promise<void> {
    const rng = new Rng(this.config.seed);
    const kept: tf.Tensor2D[] = [];
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
            const slot = seen < this.config.references ? seen : rng.int(seen + 1);
            if (slot >= this.config.references) continue;
            const patches = tf.tidy(
              () => features.slice([i, 0, 0, 0], [1, h, w, c]).reshape([h * w, c]) as tf.Tensor2D,
            );
            kept[slot]?.dispose();
            kept[slot] = patches;
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
      this.setReferences(kept);
    } finally {
      for (const t of kept) t.dispose();
    }
  }

  private setReferences(patchSets: tf.Tensor2D[]): void {
    for (const r of this.references) {
      r.featuresT.dispose();
      r.norms.dispose();
    }
    this.references = patchSets.map((p) => ({
      featuresT: tf.keep(tf.tidy(() => p.transpose<tf.Tensor2D>())),
      norms: tf.keep(tf.tidy(() => tf.sum<tf.Tensor1D>(tf.square(p), 1))),
    }));
  }

  /** Patch scores [B, h, w]: mean over the closest references of the nearest-patch distance. */
  patchScores(images: tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => {
      const f = patchFeatures(this.encoder, images, this.config.features);
      const [count, h, w, c] = f.shape;
      const queries = f.reshape([count, h * w, c]) as tf.Tensor3D;
      let references = this.references;
      if (references.length === 0) {
        // Not fitted: the batch is its own reference set.
        if (count < 2)
          throw new ModelError(
            'Zero-shot scoring of a single image needs reference images: fit on the folder first.',
          );
        references = Array.from({ length: count }, (_, i) => {
          const p = queries.slice([i, 0, 0], [1, h * w, c]).reshape([h * w, c]) as tf.Tensor2D;
          return {
            featuresT: p.transpose<tf.Tensor2D>(),
            norms: tf.sum<tf.Tensor1D>(tf.square(p), 1),
          };
        });
      }
      return mutualScores(queries, references, this.config.closestFraction).reshape([
        count,
        h,
        w,
      ]) as tf.Tensor3D;
    });
  }

  /**
   * Patch scores [K, P] of each reference image against the other references: how the folder's
   * own images score, for scaling a type's scores without labels.
   */
  referencePatchScores(): tf.Tensor2D {
    if (this.references.length < 2)
      throw new ModelError(
        'Reference scores need a zero-shot detector fitted on 2 or more images.',
      );
    const rows = this.references.map((r) =>
      tf.tidy(() => {
        const queries = r.featuresT.transpose().expandDims(0) as tf.Tensor3D;
        return mutualScores(queries, this.references, this.config.closestFraction);
      }),
    );
    try {
      return tf.concat(rows) as tf.Tensor2D;
    } finally {
      tf.dispose(rows);
    }
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
    const all = tf.tidy(() => tf.stack(this.references.map((r) => r.featuresT.transpose())));
    try {
      const values = (await all.data()) as Float32Array;
      await writeFile(
        join(dir, REFERENCES_FILE),
        Buffer.from(values.buffer, values.byteOffset, values.byteLength),
      );
    } finally {
      all.dispose();
    }
    await writeFile(
      join(dir, CONFIG_FILE),
      JSON.stringify(
        {
          kind: this.kind,
          config: this.config,
          references: { count: this.references.length, patches, channels },
        },
        null,
        2,
      ),
    );
  }

  dispose(): void {
    this.setReferences([]);
    this.encoder.dispose();
  }

  static async load(dir: string): Promise<ZeroShotDetector> {
    const saved = JSON.parse(await readFile(join(dir, CONFIG_FILE), 'utf8')) as {
      config: ZeroShotConfig;
      references: { count: number; patches: number; channels: number };
    };
    const { count, patches, channels } = saved.references;
    const bytes = await readFile(join(dir, REFERENCES_FILE));
    if (bytes.byteLength !== count * patches * channels * 4) {
      throw new ModelError(
        `${join(dir, REFERENCES_FILE)} has the wrong size; the model folder is damaged.`,
      );
    }
    const detector = new ZeroShotDetector(await loadEncoder(join(dir, 'encoder')), saved.config);
    const values = new Float32Array(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    );
    const sets = Array.from({ length: count }, (_, i) =>
      tf.tensor2d(values.subarray(i * patches * channels, (i + 1) * patches * channels), [
        patches,
        channels,
      ]),
    );
    try {
      detector.setReferences(sets);
    } finally {
      for (const s of sets) s.dispose();
    }
    return detector;
  }
}
