// The patches a one-class fit keeps, with memory bounded for any number of images (reservoir
// sampling): rows for the coreset or the defect head, whole images for the typical score.
import * as tf from '@tensorflow/tfjs';
import { BadArgumentError } from '../../../shared/errors.js';
import { Rng } from '../../../shared/random.js';

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
export const PATCH_SAMPLE = 200_000;

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
    private readonly imageCapacity = TYPICAL_IMAGES,
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
      const slot = this.imageRng.reservoirSlot(this.imagesSeen, this.imageCapacity);
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

  /** Rows kept. */
  get size(): number {
    return this.kept;
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
