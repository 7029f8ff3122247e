// The catalogue of synthetic object types, and the rendering of one sample: a good image, or the
// same image with one defect and its ground-truth mask.
import { BadArgumentError } from '../../shared/errors.js';
import { Damage } from './defects.js';
import { bottle, nut, pill } from './objects.js';
import { addSensorNoise, toBytes } from './raster.js';
import { Rng, seedFor } from '../../shared/random.js';
import type { ProductKind, ProductType } from './scene.js';
import { grid, leather, wood } from './textures.js';

export const productTypes: readonly ProductType[] = [grid, wood, leather, bottle, pill, nut];

export const DEFAULT_SIZE = 256;
export const MIN_SIZE = 32;
export const MAX_SIZE = 2048;

/** A defect should be small (most real ones are) but big enough to see: share of the image. */
export const MIN_DEFECT_AREA = 0.001;
export const MAX_DEFECT_AREA = 0.05;

// A drawn defect outside those bounds (a scratch mostly off a pill, say) is drawn again with the
// next stream; after this many tries the last one is kept.
const DEFECT_TRIES = 8;

// Camera grain, in 0–1 units: about one grey level of 255.
const SENSOR_NOISE = 0.006;

export function productTypeNamed(name: string): ProductType {
  const type = productTypes.find((t) => t.name === name);
  if (!type) {
    throw new BadArgumentError(
      `Unknown synthetic object type '${name}'. ` +
        `Choose from: ${productTypes.map((t) => t.name).join(', ')}.`,
    );
  }
  return type;
}

export interface SampleOptions {
  /** Width and height in pixels (default 256). */
  size?: number;
  /** Draw this defect kind (one of the type's `defectKinds`); omit for a good image. */
  defect?: string;
}

export interface Sample {
  objectType: string;
  kind: ProductKind;
  size: number;
  /** RGB bytes, row-major. */
  image: Uint8Array;
  /** Ground truth, one byte per pixel: 255 where the defect is; null for a good image. */
  mask: Uint8Array | null;
  defectKind: string | null;
  /** Share of the image the mask covers (0 for a good image). */
  defectArea: number;
}

/**
 * Renders sample `index` of an object type. The scene (position, rotation, lighting, material)
 * depends only on seed, type and index; the defect has its own stream, so the same call with and
 * without `defect` gives the same picture except where the defect is.
 */
export function renderSample(
  objectType: string,
  seed: number,
  index: number,
  options: SampleOptions = {},
): Sample {
  const type = productTypeNamed(objectType);
  const size = options.size ?? DEFAULT_SIZE;
  if (!Number.isInteger(size) || size < MIN_SIZE || size > MAX_SIZE) {
    throw new BadArgumentError(
      `Image size must be a whole number of pixels from ${MIN_SIZE} to ${MAX_SIZE}.`,
    );
  }
  const kind = options.defect;
  if (kind !== undefined && !type.defectKinds.includes(kind)) {
    throw new BadArgumentError(
      `'${kind}' is not a defect of ${type.name}. Choose from: ${type.defectKinds.join(', ')}.`,
    );
  }
  const scene = type.render(new Rng(seedFor(seed, type.name, index, 'scene')), size);
  let picture = scene.picture;
  let mask: Uint8Array | null = null;
  let defectArea = 0;
  if (kind !== undefined) {
    const pixels = size * size;
    for (let attempt = 0; attempt < DEFECT_TRIES; attempt++) {
      const damage = new Damage(scene);
      scene.addDefect(
        kind,
        damage,
        new Rng(seedFor(seed, type.name, index, 'defect', kind, attempt)),
      );
      const area = damage.maskArea() / pixels;
      const fits = area >= MIN_DEFECT_AREA && area <= MAX_DEFECT_AREA;
      if (fits || attempt === DEFECT_TRIES - 1) {
        picture = damage.picture;
        mask = damage.mask();
        defectArea = area;
        break;
      }
    }
  }
  // Grain goes on last and is the same with or without the defect, so it never shows in the diff.
  addSensorNoise(picture, new Rng(seedFor(seed, type.name, index, 'sensor')), SENSOR_NOISE);
  return {
    objectType: type.name,
    kind: type.kind,
    size,
    image: toBytes(picture),
    mask,
    defectKind: kind ?? null,
    defectArea,
  };
}
