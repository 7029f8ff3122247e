// Heatmap overlays: an anomaly map coloured with the Turbo colour map and blended over its image,
// as a PNG. Values are on the normalised scale (threshold = 0.5), so colour means the same thing
// on every image: blue/transparent is normal, yellow is at the threshold, red is clearly defective.
// A map of a region of interest is drawn at the region on the whole image, outlined faintly; the
// rest of the image, which was not scored, stays uncoloured.
import { createHash } from 'node:crypto';
import { mkdir, rename } from 'node:fs/promises';
import { dirname, parse } from 'node:path';
import sharp from 'sharp';
import { ImageError, errorMessage } from '../shared/errors.js';
import { clipRoi, type Roi } from '../shared/roi.js';
import { openImage, probeImage } from './image-io.js';

/** Per-pixel raw anomaly scores, row-major, at the scored tensor's resolution (a detector's). */
export interface AnomalyMap {
  width: number;
  height: number;
  data: Float32Array;
}

/** A stable, collision-free heatmap file name for an image path. */
export function heatmapName(path: string): string {
  const digest = createHash('sha1').update(path).digest('hex').slice(0, 10);
  return `${parse(path).name}-${digest}.png`;
}

export interface OverlayOptions {
  /** Maps a raw map value to 0..1 with the threshold at 0.5 (threshold.ts's normalise). */
  normalise: (raw: number) => number;
  /** Largest opacity of the colour layer (at a normalised value of 1). */
  opacity?: number;
  /** Longest side of the written PNG; the image is never enlarged. */
  maxSide?: number;
  /** The region of interest (image pixels) the map covers; absent or null: the whole image. */
  roi?: Roi | null;
}

/** The outline of the region of interest: light enough to see, faint enough not to read as heat. */
const OUTLINE = { colour: [255, 255, 255], opacity: 0.35 } as const;

interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Where the map goes on the written image: the region, scaled as the image was, or all of it. */
function mapPlacement(
  roi: Roi | null | undefined,
  raw: { width: number; height: number },
  out: { width: number; height: number },
): Rect {
  if (!roi) return { left: 0, top: 0, width: out.width, height: out.height };
  const region = clipRoi(roi, raw.width, raw.height);
  if (!region) throw new Error('the region of interest lies outside the image');
  const sx = out.width / raw.width;
  const sy = out.height / raw.height;
  const left = Math.min(out.width - 1, Math.round(region.x * sx));
  const top = Math.min(out.height - 1, Math.round(region.y * sy));
  return {
    left,
    top,
    width: Math.max(1, Math.min(out.width - left, Math.round(region.width * sx))),
    height: Math.max(1, Math.min(out.height - top, Math.round(region.height * sy))),
  };
}

/**
 * Turbo (Mikhailov, Google 2019), the polynomial approximation published with it: perceptually
 * smoother than jet, and still readable for most colour-blind inspectors.
 */
export function turbo(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t));
  const r =
    0.13572138 +
    x *
      (4.6153926 + x * (-42.66032258 + x * (132.13108234 + x * (-152.94239396 + x * 59.28637943))));
  const g =
    0.09140261 +
    x * (2.19418839 + x * (4.84296658 + x * (-14.18503333 + x * (4.27729857 + x * 2.82956604))));
  const b =
    0.1066733 +
    x *
      (12.64194608 +
        x * (-60.58204836 + x * (110.36276771 + x * (-89.90310912 + x * 27.34824973))));
  const byte = (v: number) => Math.round(255 * Math.min(1, Math.max(0, v)));
  return [byte(r), byte(g), byte(b)];
}

/** Writes `target` (PNG): the image at `imagePath` with `map` blended over it. */
export async function writeHeatmapOverlay(
  imagePath: string,
  map: AnomalyMap,
  target: string,
  options: OverlayOptions,
): Promise<void> {
  const opacity = options.opacity ?? 0.6;
  const maxSide = options.maxSide ?? 1024;
  try {
    // Opened as inspection reads it: upright, and BMP too.
    const { image: source } = await openImage(imagePath);
    const raw = await probeImage(imagePath);
    const base = source
      .flatten({ background: '#000000' })
      .resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true })
      .toColourspace('srgb')
      .removeAlpha();
    const { data: pixels, info } = await base.raw().toBuffer({ resolveWithObject: true });
    const { width, height } = info;
    const place = mapPlacement(options.roi, { width: raw.width, height: raw.height }, info);

    const levels = Buffer.alloc(map.width * map.height);
    for (let i = 0; i < levels.length; i++)
      levels[i] = Math.round(255 * options.normalise(map.data[i]!));
    const resized = await sharp(levels, {
      raw: { width: map.width, height: map.height, channels: 1 },
    })
      .resize(place.width, place.height, { fit: 'fill', kernel: 'cubic' })
      .extractChannel(0) // sharp widens one-channel data to RGB unless told otherwise
      .raw()
      .toBuffer();

    const lut = Array.from({ length: 256 }, (_, v) => turbo(v / 255));
    const out = Buffer.from(pixels);
    const blend = (p: number, colour: readonly number[], alpha: number) => {
      for (let c = 0; c < 3; c++)
        out[p * 3 + c] = Math.round((1 - alpha) * pixels[p * 3 + c]! + alpha * colour[c]!);
    };
    for (let y = 0; y < place.height; y++) {
      for (let x = 0; x < place.width; x++) {
        const level = resized[y * place.width + x]!;
        // Normal regions stay readable: the colour fades in from a quarter of the way to threshold.
        const alpha = opacity * Math.min(1, Math.max(0, (level / 255 - 0.125) / 0.5));
        blend((place.top + y) * width + place.left + x, lut[level]!, alpha);
      }
    }
    if (options.roi) {
      const right = place.left + place.width - 1;
      const bottom = place.top + place.height - 1;
      for (let x = place.left; x <= right; x++) {
        blend(place.top * width + x, OUTLINE.colour, OUTLINE.opacity);
        blend(bottom * width + x, OUTLINE.colour, OUTLINE.opacity);
      }
      for (let y = place.top + 1; y < bottom; y++) {
        blend(y * width + place.left, OUTLINE.colour, OUTLINE.opacity);
        blend(y * width + right, OUTLINE.colour, OUTLINE.opacity);
      }
    }
    await mkdir(dirname(target), { recursive: true });
    const tmp = `${target}.${process.pid}.tmp.png`;
    await sharp(out, { raw: { width, height, channels: 3 } })
      .png({ compressionLevel: 6 })
      .toFile(tmp);
    await rename(tmp, target);
  } catch (error) {
    throw new ImageError(
      imagePath,
      'corrupt',
      `cannot draw its heatmap (${errorMessage(error)}).`,
      { cause: error },
    );
  }
}
