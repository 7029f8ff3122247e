// What a product renderer hands back: the good image plus what the defects need to know about
// it (where the product is, what lies behind it, how it is lit), and the defects that fit it.
import type { Damage } from './defects.js';
import type { Picture, Point } from './raster.js';
import type { Rng } from '../../shared/random.js';

export type ProductKind = 'texture' | 'object';

/** A point on an object's outline and the outward normal there. */
export interface EdgePoint extends Point {
  nx: number;
  ny: number;
}

export interface Scene {
  size: number;
  /** Pixels per unit of a 256-pixel image, so defects keep their proportions at any size. */
  unit: number;
  /** The good image, lit. */
  picture: Picture;
  /** How much of each pixel (0–1) is the product itself rather than background or gaps. */
  surface: Float32Array;
  /** What shows where a piece of the product is missing, lit like the picture. */
  backdrop: Picture;
  /** The lighting factor at each pixel, for defects painted in a colour of their own. */
  light: Float32Array;
  /** A random place on the product where a surface defect can sit. */
  pickSpot(rng: Rng): Point;
  /** Draws one defect of the given kind (one of the product type's `defectKinds`). */
  addDefect(kind: string, damage: Damage, rng: Rng): void;
}

export interface ProductType {
  name: string;
  kind: ProductKind;
  /** One line for listings. */
  description: string;
  defectKinds: readonly string[];
  render(rng: Rng, size: number): Scene;
}

/** A defect kind the type does not list: a programming error, as kinds are checked first. */
export function noSuchDefect(type: string, kind: string): never {
  throw new Error(`${type} has no defect kind '${kind}'`);
}
