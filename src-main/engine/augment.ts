// Random views of product images for SimCLR: resized crop, flips, rotation, colour jitter,
// grayscale and blur, plus CutPaste (a patch of the image pasted elsewhere) as an extra task.
// All randomness comes from a seeded generator, so a training run can be replayed exactly.
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../shared/random.js';

export interface AugmentOptions {
  /** Side of the square views, in pixels. */
  outputSize: number;
  /** Random resized crop: area fraction and aspect ratio ranges (torchvision's convention). */
  crop: { minArea: number; maxArea: number; minAspect: number; maxAspect: number };
  /** Probabilities of a left-right and an up-down flip. */
  flipHorizontal: number;
  flipVertical: number;
  /** Also turn by a random multiple of 90°: products on a belt lie in any orientation. */
  rotate90: boolean;
  /** Small extra rotation, uniform in ±this many degrees. */
  maxRotationDegrees: number;
  /** Colour jitter strengths (factor drawn from [1 − s, 1 + s]) and how often it applies. */
  colourJitter: { probability: number; brightness: number; contrast: number; saturation: number };
  /** Probability of dropping colour entirely. */
  grayscale: number;
  /** Gaussian blur: how often, and the largest sigma as a fraction of the view side. */
  blur: { probability: number; maxSigmaFraction: number };
}

/**
 * SimCLR's augmentation recipe (Chen et al. 2020, appendix A), adapted to inspection images: the
 * crop keeps at least 20 % of the area rather than 8 %, because defects are small and the views of
 * one product should still show much of it; rotations are added because parts arrive turned.
 */
export function simclrAugmentations(outputSize: number): AugmentOptions {
  return {
    outputSize,
    crop: { minArea: 0.2, maxArea: 1, minAspect: 3 / 4, maxAspect: 4 / 3 },
    flipHorizontal: 0.5,
    flipVertical: 0.5,
    rotate90: true,
    maxRotationDegrees: 10,
    colourJitter: { probability: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.4 },
    grayscale: 0.2,
    // SimCLR blurs half the views with sigma up to 2 px at 224 px, i.e. ~1 % of the side.
    blur: { probability: 0.5, maxSigmaFraction: 2 / 224 },
  };
}

/** The options that leave an image as it is (apart from resizing to `outputSize`). */
export function noAugmentation(outputSize: number): AugmentOptions {
  return {
    outputSize,
    crop: { minArea: 1, maxArea: 1, minAspect: 1, maxAspect: 1 },
    flipHorizontal: 0,
    flipVertical: 0,
    rotate90: false,
    maxRotationDegrees: 0,
    colourJitter: { probability: 0, brightness: 0, contrast: 0, saturation: 0 },
    grayscale: 0,
    blur: { probability: 0, maxSigmaFraction: 0 },
  };
}

interface ViewParams {
  /** Affine map from view pixels to source pixels, as tf.image.transform's 8 numbers. */
  transform: number[];
  brightness: number;
  contrast: number;
  saturation: number;
  /** Blur sigma in view pixels; 0 for none. */
  blurSigma: number;
}

function drawView(rng: Rng, width: number, height: number, o: AugmentOptions): ViewParams {
  // Draw every number for every image, used or not, so one option does not shift the stream of
  // the others: turning blur off leaves the crops of a seeded run as they were.
  const crop = drawCrop(rng, width, height, o.crop);
  const flipX = rng.chance(o.flipHorizontal) ? -1 : 1;
  const flipY = rng.chance(o.flipVertical) ? -1 : 1;
  const quarterTurns = rng.int(4);
  const smallAngle = rng.uniform(-1, 1) * o.maxRotationDegrees;
  const jitter = rng.chance(o.colourJitter.probability);
  const brightness = rng.uniform(-1, 1) * o.colourJitter.brightness;
  const contrast = rng.uniform(-1, 1) * o.colourJitter.contrast;
  const saturation = rng.uniform(-1, 1) * o.colourJitter.saturation;
  const gray = rng.chance(o.grayscale);
  const blur = rng.chance(o.blur.probability);
  const sigmaFraction = rng.uniform(0.05, 1) * o.blur.maxSigmaFraction;

  const angle = (((o.rotate90 ? quarterTurns * 90 : 0) + smallAngle) * Math.PI) / 180;
  // Crop, flips and rotation compose into one affine map, so each view is resampled once
  // (tf.image.transform) rather than cropped (cropAndResize) and then resampled again to rotate,
  // which would blur the fine texture that defects live in.
  const side = o.outputSize;
  const centre = (side - 1) / 2;
  const scaleX = (crop.width / side) * flipX;
  const scaleY = (crop.height / side) * flipY;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const a0 = scaleX * cos;
  const a1 = -scaleX * sin;
  const b0 = scaleY * sin;
  const b1 = scaleY * cos;
  const cropCentreX = crop.x + crop.width / 2 - 0.5;
  const cropCentreY = crop.y + crop.height / 2 - 0.5;
  return {
    transform: [
      a0,
      a1,
      cropCentreX - (a0 + a1) * centre,
      b0,
      b1,
      cropCentreY - (b0 + b1) * centre,
      0,
      0,
    ],
    brightness: jitter ? 1 + brightness : 1,
    contrast: jitter ? 1 + contrast : 1,
    saturation: gray ? 0 : jitter ? 1 + saturation : 1,
    blurSigma: blur ? sigmaFraction * side : 0,
  };
}

function drawCrop(
  rng: Rng,
  width: number,
  height: number,
  c: AugmentOptions['crop'],
): { x: number; y: number; width: number; height: number } {
  const area = width * height;
  // torchvision's RandomResizedCrop: try random boxes, fall back to the whole image. Ten fixed
  // attempts keep the number of draws per image bounded.
  let found: { x: number; y: number; width: number; height: number } | undefined;
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(c.minArea, c.maxArea);
    const aspect = Math.exp(rng.uniform(Math.log(c.minAspect), Math.log(c.maxAspect)));
    const w = Math.sqrt(target * aspect);
    const h = Math.sqrt(target / aspect);
    const x = rng.uniform(0, Math.max(0, width - w));
    const y = rng.uniform(0, Math.max(0, height - h));
    if (!found && w <= width && h <= height) found = { x, y, width: w, height: h };
  }
  return found ?? { x: 0, y: 0, width, height };
}

/**
 * tf.image.transform with one matrix per image, applied image by image: tfjs 4.22's cpu kernel
 * returns after the first image of a batch, and wasm's 'reflect' fill maps coordinates just below
 * zero to the far edge, so this uses 'nearest' (edge) fill, which both backends get right.
 */
function transformEach(
  images: tf.Tensor4D,
  matrices: number[][],
  interpolation: 'nearest' | 'bilinear',
  outputShape: [number, number],
): tf.Tensor4D {
  return tf.tidy(() => {
    const views = tf
      .split(images, images.shape[0])
      .map((image, b) =>
        tf.image.transform(
          image as tf.Tensor4D,
          tf.tensor2d([snapToZero(matrices[b]!)]),
          interpolation,
          'nearest',
          0,
          outputShape,
        ),
      );
    return tf.concat(views);
  });
}

/** cos 90° is 6e-17 in floating point; exact zeros keep quarter turns on the pixel grid. */
function snapToZero(matrix: number[]): number[] {
  return matrix.map((v) => (Math.abs(v) < 1e-9 ? 0 : v));
}

const LUMA = [0.299, 0.587, 0.114];

function luminance(images: tf.Tensor4D): tf.Tensor4D {
  return tf.sum(tf.mul(images, tf.tensor1d(LUMA)), -1, true);
}

/**
 * Separable gaussian blur with a different sigma per image, in two depthwise convolutions: the
 * batch is folded into the channel axis so every image gets its own kernel in one op.
 */
function blurEach(images: tf.Tensor4D, sigmas: number[]): tf.Tensor4D {
  const [batch, height, width, channels] = images.shape;
  const maxSigma = Math.max(...sigmas);
  const radius = Math.max(
    1,
    Math.min(Math.ceil(3 * maxSigma), Math.floor((Math.min(height, width) - 1) / 2)),
  );
  const size = 2 * radius + 1;
  const weights = new Float32Array(size * batch * channels);
  for (let b = 0; b < batch; b++) {
    const sigma = sigmas[b]!;
    const kernel = new Float64Array(size);
    let total = 0;
    for (let i = 0; i < size; i++) {
      const d = i - radius;
      // sigma 0 is the identity: all weight on the centre tap.
      kernel[i] = sigma > 0 ? Math.exp((-d * d) / (2 * sigma * sigma)) : d === 0 ? 1 : 0;
      total += kernel[i]!;
    }
    for (let i = 0; i < size; i++) {
      for (let ch = 0; ch < channels; ch++)
        weights[(i * batch + b) * channels + ch] = kernel[i]! / total;
    }
  }
  // [B, H, W, C] → [1, H, W, B·C]
  const folded = tf.reshape<tf.Rank.R4>(tf.transpose(images, [1, 2, 0, 3]), [
    1,
    height,
    width,
    batch * channels,
  ]);
  const rows = tf.tensor4d(weights, [1, size, batch * channels, 1]);
  const cols = tf.tensor4d(weights, [size, 1, batch * channels, 1]);
  // Reflect at the borders: zero padding would darken the edges and give away the blur.
  const padded = tf.mirrorPad(
    folded,
    [
      [0, 0],
      [radius, radius],
      [radius, radius],
      [0, 0],
    ],
    'reflect',
  );
  const blurred = tf.depthwiseConv2d(
    tf.depthwiseConv2d(padded, rows, 1, 'valid'),
    cols,
    1,
    'valid',
  );
  return tf.transpose(tf.reshape(blurred, [height, width, batch, channels]), [2, 0, 1, 3]);
}

/**
 * One random view of each image. `images` are [B, H, W, 3] in 0..1 (any size; larger than the
 * view keeps crops sharp); the result is [B, outputSize, outputSize, 3] in 0..1, owned by the
 * caller. Draws from `rng`, so the same generator state gives the same views.
 */
export function augmentBatch(images: tf.Tensor4D, rng: Rng, options: AugmentOptions): tf.Tensor4D {
  const [batch, height, width] = images.shape;
  const views = Array.from({ length: batch }, () => drawView(rng, width, height, options));
  return tf.tidy(() => {
    const side = options.outputSize;
    // Edge pixels fill the corners a rotation uncovers: black corners would be a cue the network
    // could learn instead of the product.
    let x = transformEach(
      images,
      views.map((v) => v.transform),
      'bilinear',
      [side, side],
    );
    const perImage = (values: number[]) => tf.tensor4d(values, [batch, 1, 1, 1]);
    if (views.some((v) => v.brightness !== 1 || v.contrast !== 1 || v.saturation !== 1)) {
      x = tf.mul(x, perImage(views.map((v) => v.brightness)));
      const mean = tf.mean(luminance(x), [1, 2, 3], true);
      x = tf.add(tf.mul(tf.sub(x, mean), perImage(views.map((v) => v.contrast))), mean);
      const gray = luminance(x);
      x = tf.add(tf.mul(tf.sub(x, gray), perImage(views.map((v) => v.saturation))), gray);
      x = tf.clipByValue(x, 0, 1);
    }
    if (views.some((v) => v.blurSigma > 0)) {
      x = blurEach(
        x,
        views.map((v) => v.blurSigma),
      );
    }
    return x;
  });
}

export interface CutPasteOptions {
  /** Fraction of images that get a pasted patch. */
  probability: number;
  /** Patch area as a fraction of the image, and its aspect ratio range (CutPaste's defaults). */
  minArea: number;
  maxArea: number;
  minAspect: number;
  maxAspect: number;
  /** Brightness change of the patch, so the seam is not the only cue (±this fraction). */
  brightness: number;
}

export const defaultCutPaste: CutPasteOptions = {
  probability: 0.5,
  minArea: 0.02,
  maxArea: 0.15,
  minAspect: 0.3,
  maxAspect: 3.3,
  brightness: 0.1,
};

/**
 * CutPaste (Li et al. 2021, the seed's reference [9]): cuts a rectangle out of each chosen image
 * and pastes it at another place in the same image — an artificial local defect. Returns the new
 * images (caller owns) and which ones were changed, the labels of the "was something pasted?" task.
 */
export function cutPaste(
  images: tf.Tensor4D,
  rng: Rng,
  options: CutPasteOptions = defaultCutPaste,
): { images: tf.Tensor4D; pasted: boolean[] } {
  const [batch, height, width] = images.shape;
  const mask = new Float32Array(batch * height * width);
  const shifts: number[][] = [];
  const pasted: boolean[] = [];
  const brightness: number[] = [];
  for (let b = 0; b < batch; b++) {
    const apply = rng.chance(options.probability);
    const area = width * height * rng.uniform(options.minArea, options.maxArea);
    const aspect = Math.exp(rng.uniform(Math.log(options.minAspect), Math.log(options.maxAspect)));
    const w = Math.max(1, Math.min(width - 1, Math.round(Math.sqrt(area * aspect))));
    const h = Math.max(1, Math.min(height - 1, Math.round(Math.sqrt(area / aspect))));
    const fromX = rng.int(width - w + 1);
    const fromY = rng.int(height - h + 1);
    const toX = rng.int(width - w + 1);
    const toY = rng.int(height - h + 1);
    const gain = 1 + rng.uniform(-1, 1) * options.brightness;
    // A paste onto (almost) the same place changes nothing visible; it would be a wrong label.
    const moved = Math.abs(toX - fromX) >= w / 2 || Math.abs(toY - fromY) >= h / 2;
    const use = apply && moved;
    pasted.push(use);
    brightness.push(use ? gain : 1);
    shifts.push([1, 0, fromX - toX, 0, 1, fromY - toY, 0, 0]);
    if (!use) continue;
    for (let y = toY; y < toY + h; y++)
      mask.fill(1, (b * height + y) * width + toX, (b * height + y) * width + toX + w);
  }
  const result = tf.tidy(() => {
    const shifted = transformEach(images, shifts, 'nearest', [height, width]);
    const patch = tf.clipByValue(tf.mul(shifted, tf.tensor4d(brightness, [batch, 1, 1, 1])), 0, 1);
    const inside = tf.tensor4d(mask, [batch, height, width, 1]);
    // mask·patch + (1 − mask)·image, broadcast over the colour channels.
    return tf.add(tf.mul(inside, patch), tf.mul(tf.sub(1, inside), images)) as tf.Tensor4D;
  });
  return { images: result, pasted };
}
