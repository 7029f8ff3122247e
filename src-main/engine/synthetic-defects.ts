// Defects painted into a type's own good images, for validating a model when the type has no
// defect labels yet: a dark spot (a blow hole, a pinhole, a dropped solder ball), a thin dark
// curve (a crack, a scratch) and a large soft dark region (an inactive area, a stain). Validation
// paints each kind into every held-out good image in turn, so all three weigh alike and there are
// three defect images per good one: with ~27 defects of a kind per 80 good images the choice
// between two feature sets on casting flipped with the seed (EVALUATION.md).
//
// Why painted rather than CutPaste's moved rectangles: on the real dev types CutPaste ranked two
// feature sets the wrong way round (casting's stride 4 + 8 catches its real defects at 0.986 and
// stride 8 + 16 at 0.926, yet CutPaste validation gave 0.969 against 0.984), while these three
// kinds together rank them as the real defects do on every type where they differ (EVALUATION.md).
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../shared/random.js';
import { decodedBatches, type DecodedBatchOptions } from './decoded-batches.js';
import type { Detector } from './detectors/detector.js';

export type PaintedDefect = 'spot' | 'line' | 'region';
export const PAINTED_DEFECTS: readonly PaintedDefect[] = ['spot', 'line', 'region'];

/**
 * How much of the image each kind covers (fractions of the short side) and how dark it is (the
 * factor pixels are multiplied by at its centre).
 */
const SPOT = { radius: [0.012, 0.035], stretch: [0.7, 1.4], gain: [0.3, 0.6] } as const;
const LINE = { length: [0.1, 0.35], bend: 0.08, gain: [0.35, 0.65] } as const;
const REGION = { radius: [0.08, 0.2], gain: [0.5, 0.8] } as const;

/** Paints a soft ellipse into `mask` (one image, height × width): 1 inside, fading at the rim. */
function ellipse(
  mask: Float32Array,
  offset: number,
  [height, width]: [number, number],
  [cx, cy, rx, ry]: [number, number, number, number],
  softness: number,
): void {
  const [x0, x1] = [Math.max(0, Math.floor(cx - rx)), Math.min(width - 1, Math.ceil(cx + rx))];
  const [y0, y1] = [Math.max(0, Math.floor(cy - ry)), Math.min(height - 1, Math.ceil(cy + ry))];
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const d = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2;
      if (d < 1) mask[offset + y * width + x] = Math.min(1, softness * (1 - d));
    }
  }
}

/** A curve a pixel wide with a faint edge, wandering from a random point (a crack). */
function curve(
  mask: Float32Array,
  offset: number,
  [height, width]: [number, number],
  rng: Rng,
): void {
  const side = Math.min(height, width);
  let x = rng.uniform(0.1 * width, 0.9 * width);
  let y = rng.uniform(0.1 * height, 0.9 * height);
  let angle = rng.uniform(0, 2 * Math.PI);
  const length = side * rng.uniform(LINE.length[0], LINE.length[1]);
  for (let travelled = 0; travelled < length; travelled += 0.5) {
    angle += rng.uniform(-LINE.bend, LINE.bend);
    x += 0.5 * Math.cos(angle);
    y += 0.5 * Math.sin(angle);
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const [px, py] = [Math.round(x + dx), Math.round(y + dy)];
        if (px < 0 || py < 0 || px >= width || py >= height) continue;
        const k = offset + py * width + px;
        mask[k] = Math.max(mask[k]!, dx === 0 && dy === 0 ? 1 : 0.35);
      }
    }
  }
}

/**
 * Images [B, H, W, 3] in 0..1 with one painted defect each (image i gets kind i + `first`,
 * cycling); the caller owns the result. Seeded through `rng`, so two models validated with the
 * same seed see the very same defects.
 */
export function paintDefects(images: tf.Tensor4D, rng: Rng, first = 0): tf.Tensor4D {
  const [count, height, width] = images.shape;
  const size: [number, number] = [height, width];
  const side = Math.min(height, width);
  const mask = new Float32Array(count * height * width);
  const gains: number[] = [];
  for (let i = 0; i < count; i++) {
    const offset = i * height * width;
    const kind = PAINTED_DEFECTS[(i + first) % PAINTED_DEFECTS.length]!;
    if (kind === 'spot') {
      const r = side * rng.uniform(SPOT.radius[0], SPOT.radius[1]);
      const [cx, cy] = [rng.uniform(r, width - r), rng.uniform(r, height - r)];
      const [sx, sy] = [rng.uniform(...SPOT.stretch), rng.uniform(...SPOT.stretch)];
      ellipse(mask, offset, size, [cx, cy, r * sx, r * sy], 2);
      gains.push(rng.uniform(...SPOT.gain));
    } else if (kind === 'line') {
      curve(mask, offset, size, rng);
      gains.push(rng.uniform(...LINE.gain));
    } else {
      const [rx, ry] = [
        width * rng.uniform(...REGION.radius),
        height * rng.uniform(...REGION.radius),
      ];
      ellipse(mask, offset, size, [rng.uniform(0, width), rng.uniform(0, height), rx, ry], 3);
      gains.push(rng.uniform(...REGION.gain));
    }
  }
  return tf.tidy(() => {
    // pixel × (1 − mask · (1 − gain)): the gain at the defect's core, fading to 1 at its rim.
    const darkening = tf.mul(
      tf.tensor4d(mask, [count, height, width, 1]),
      tf.sub(1, tf.tensor4d(gains, [count, 1, 1, 1])),
    );
    return tf.clipByValue(tf.mul(images, tf.sub(1, darkening)), 0, 1) as tf.Tensor4D;
  });
}

/**
 * `images` with each kind of defect painted into each image in turn (image i gets kind i + k for
 * the k-th batch): three batches, each freed when the next is asked for. The one way validation
 * paints held-out good images, so that every check that paints with the same seed meets the very
 * same defects.
 */
export function* paintedKinds(images: tf.Tensor4D, rng: Rng): Generator<tf.Tensor4D> {
  for (let first = 0; first < PAINTED_DEFECTS.length; first++) {
    const painted = paintDefects(images, rng, first);
    try {
      yield painted;
    } finally {
      painted.dispose();
    }
  }
}

/**
 * Scores of `goodPaths` with each kind of defect painted into each in turn (three scores per
 * image): the defect half of a validation that has no defect labels. Seeded, so models validated
 * with the same seed meet the same defects.
 */
export async function paintedDefectScores(
  detector: Detector,
  goodPaths: readonly string[],
  seed: number,
  options: DecodedBatchOptions = {},
): Promise<number[]> {
  const rng = new Rng(seed);
  const scores: number[] = [];
  for await (const batch of decodedBatches(goodPaths, detector.inputShape, options))
    for (const painted of paintedKinds(batch.images, rng))
      for (const result of await detector.score(painted)) scores.push(result.score);
  return scores;
}
