// Float RGB pictures and the anti-aliased drawing shared by renderers and defects. Shapes are
// drawn as per-pixel coverage, so a defect's mask is rasterised from the very shape that was drawn.
import type { Rng } from '../../shared/random.js';

/** A square RGB picture, channel values 0–1, row-major, interleaved. */
export interface Picture {
  size: number;
  rgb: Float32Array;
}

export type Colour = [number, number, number];

export interface Point {
  x: number;
  y: number;
}

/** A point on a stroke's centre line and the stroke's half-width there, in pixels. */
export interface PathPoint extends Point {
  halfWidth: number;
}

export function createPicture(size: number): Picture {
  return { size, rgb: new Float32Array(size * size * 3) };
}

export function clonePicture(picture: Picture): Picture {
  return { size: picture.size, rgb: picture.rgb.slice() };
}

/** A colour a little brighter or darker and a little off in hue: no two products match exactly. */
export function varyColour(rng: Rng, colour: Colour, amount: number): Colour {
  const brightness = rng.uniform(1 - amount, 1 + amount);
  return colour.map((c) => c * brightness * rng.uniform(1 - amount / 3, 1 + amount / 3)) as Colour;
}

export function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

export function mix(a: number, b: number, t: number): number {
  return a + (b - a) * t;
}

export function smoothstep(edge0: number, edge1: number, v: number): number {
  const t = clamp01((v - edge0) / (edge1 - edge0));
  return t * t * (3 - 2 * t);
}

/** Rounds to 8-bit RGB bytes, the form written to PNG. */
export function toBytes(picture: Picture): Uint8Array {
  // A clamped array clamps and rounds (half to even) on assignment, in the engine's fast path.
  const bytes = new Uint8ClampedArray(picture.rgb.length);
  const { rgb } = picture;
  for (let i = 0; i < bytes.length; i++) bytes[i] = rgb[i]! * 255;
  return new Uint8Array(bytes.buffer);
}

/**
 * The light falling on the scene, as a brightness factor per pixel: overall exposure, a linear
 * gradient from one side and a little vignetting, all varying per image so a detector cannot
 * learn the exact brightness of good images.
 */
export function lightingField(rng: Rng, size: number): Float32Array {
  const exposure = rng.uniform(0.86, 1.1);
  const angle = rng.uniform(0, 2 * Math.PI);
  const gradient = rng.uniform(0.04, 0.26);
  const vignette = rng.uniform(0, 0.22);
  const gx = Math.cos(angle) * gradient;
  const gy = Math.sin(angle) * gradient;
  const field = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    const v = (y + 0.5) / size - 0.5;
    for (let x = 0; x < size; x++) {
      const u = (x + 0.5) / size - 0.5;
      field[y * size + x] = exposure * (1 + gx * u + gy * v) * (1 - vignette * (u * u + v * v));
    }
  }
  return field;
}

export function applyLight(picture: Picture, light: Float32Array): void {
  const { rgb } = picture;
  for (let i = 0; i < light.length; i++) {
    const l = light[i]!;
    rgb[i * 3] = rgb[i * 3]! * l;
    rgb[i * 3 + 1] = rgb[i * 3 + 1]! * l;
    rgb[i * 3 + 2] = rgb[i * 3 + 2]! * l;
  }
}

/** Camera sensor noise: per-pixel grain, the same for an image with or without its defect. */
export function addSensorNoise(picture: Picture, rng: Rng, amount: number): void {
  const { rgb, size } = picture;
  // Sums of uniforms stand in for Gaussians: same spread, a fraction of the cost of Box–Muller.
  const lumaScale = amount * 2;
  const chromaScale = amount * 0.5;
  for (let i = 0; i < size * size; i++) {
    const luma = (rng.next() + rng.next() + rng.next() - 1.5) * lumaScale;
    rgb[i * 3] = rgb[i * 3]! + luma + (rng.next() - 0.5) * chromaScale;
    rgb[i * 3 + 1] = rgb[i * 3 + 1]! + luma + (rng.next() - 0.5) * chromaScale;
    rgb[i * 3 + 2] = rgb[i * 3 + 2]! + luma + (rng.next() - 0.5) * chromaScale;
  }
}

/**
 * Adds the anti-aliased coverage of a stroked polyline into `coverage`, keeping the maximum so
 * overlapping segments and branches do not add up.
 */
export function strokeCoverage(path: readonly PathPoint[], size: number, coverage: Float32Array) {
  for (let s = 0; s + 1 < path.length; s++) {
    const a = path[s]!;
    const b = path[s + 1]!;
    const reach = Math.max(a.halfWidth, b.halfWidth) + 1.5;
    const x0 = Math.max(0, Math.floor(Math.min(a.x, b.x) - reach));
    const x1 = Math.min(size - 1, Math.ceil(Math.max(a.x, b.x) + reach));
    const y0 = Math.max(0, Math.floor(Math.min(a.y, b.y) - reach));
    const y1 = Math.min(size - 1, Math.ceil(Math.max(a.y, b.y) + reach));
    const dx = b.x - a.x;
    const dy = b.y - a.y;
    const lengthSq = dx * dx + dy * dy || 1e-9;
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const px = x + 0.5 - a.x;
        const py = y + 0.5 - a.y;
        const t = clamp01((px * dx + py * dy) / lengthSq);
        const ex = px - t * dx;
        const ey = py - t * dy;
        const distance = Math.sqrt(ex * ex + ey * ey);
        const halfWidth = mix(a.halfWidth, b.halfWidth, t);
        const c = clamp01(halfWidth + 0.5 - distance);
        const i = y * size + x;
        if (c > coverage[i]!) coverage[i] = c;
      }
    }
  }
}

/** A closed, irregular outline: a circle whose radius wobbles with a few random harmonics. */
export interface Outline {
  cx: number;
  cy: number;
  radius: number;
  harmonics: { order: number; amplitude: number; phase: number }[];
}

export function randomOutline(rng: Rng, centre: Point, radius: number, roughness: number): Outline {
  const harmonics = [];
  for (let order = 2; order <= 7; order++) {
    harmonics.push({
      order,
      amplitude: (roughness * rng.uniform(0.3, 1)) / order,
      phase: rng.uniform(0, 2 * Math.PI),
    });
  }
  return { cx: centre.x, cy: centre.y, radius, harmonics };
}

export function outlineRadius(outline: Outline, angle: number): number {
  let f = 1;
  for (const h of outline.harmonics) f += h.amplitude * Math.sin(h.order * angle + h.phase);
  return outline.radius * f;
}

/**
 * Coverage of the area inside an outline (grown by `grow` pixels) into `coverage` (maximum). A
 * `feather` above one pixel gives a soft edge that fades over that many pixels.
 */
export function blobCoverage(
  outline: Outline,
  size: number,
  coverage: Float32Array,
  options: { grow?: number; feather?: number } = {},
): void {
  const grow = options.grow ?? 0;
  const feather = Math.max(1, options.feather ?? 1);
  let maxFactor = 1;
  for (const h of outline.harmonics) maxFactor += Math.abs(h.amplitude);
  const reach = outline.radius * maxFactor + grow + feather + 1;
  const x0 = Math.max(0, Math.floor(outline.cx - reach));
  const x1 = Math.min(size - 1, Math.ceil(outline.cx + reach));
  const y0 = Math.max(0, Math.floor(outline.cy - reach));
  const y1 = Math.min(size - 1, Math.ceil(outline.cy + reach));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - outline.cx;
      const dy = y + 0.5 - outline.cy;
      const inside =
        outlineRadius(outline, Math.atan2(dy, dx)) + grow - Math.sqrt(dx * dx + dy * dy);
      const c =
        feather <= 1 ? clamp01(inside + 0.5) : smoothstep(-feather / 2, feather / 2, inside);
      const i = y * size + x;
      if (c > coverage[i]!) coverage[i] = c;
    }
  }
}

/**
 * The thinnest stroke drawn. At half a pixel every row or column the stroke crosses has a pixel
 * at least half covered, so a thin line never slips between pixel centres and out of its mask.
 */
const MIN_HALF_WIDTH = 0.5;

/**
 * A smooth, gently curving centre line (a scratch, a loose thread): the heading turns at a
 * slowly drifting rate. The width tapers towards both ends.
 */
export function curvedPath(
  rng: Rng,
  start: Point,
  heading: number,
  length: number,
  options: { halfWidth: number; bend: number; step?: number },
): PathPoint[] {
  const step = options.step ?? 2;
  const steps = Math.max(2, Math.round(length / step));
  const points: PathPoint[] = [];
  let x = start.x;
  let y = start.y;
  let angle = heading;
  let turn = rng.uniform(-options.bend, options.bend);
  for (let s = 0; s <= steps; s++) {
    const t = s / steps;
    const taper = 0.35 + 0.65 * Math.sqrt(Math.sin(Math.PI * t));
    points.push({ x, y, halfWidth: Math.max(MIN_HALF_WIDTH, options.halfWidth * taper) });
    turn += rng.uniform(-options.bend, options.bend) * 0.3;
    turn = Math.max(-options.bend * 1.5, Math.min(options.bend * 1.5, turn));
    angle += turn;
    x += Math.cos(angle) * step;
    y += Math.sin(angle) * step;
  }
  return points;
}

/** A jagged centre line (a crack): short straight runs with abrupt changes of direction. */
export function jaggedPath(
  rng: Rng,
  start: Point,
  heading: number,
  length: number,
  options: { halfWidth: number; jitter: number; step?: number },
): PathPoint[] {
  const step = options.step ?? 2.5;
  const steps = Math.max(2, Math.round(length / step));
  const points: PathPoint[] = [];
  let x = start.x;
  let y = start.y;
  for (let s = 0; s <= steps; s++) {
    const t = s / steps;
    // Cracks are widest where they started and run out to a hairline.
    points.push({ x, y, halfWidth: Math.max(MIN_HALF_WIDTH, options.halfWidth * (1 - 0.6 * t)) });
    const angle = heading + rng.uniform(-options.jitter, options.jitter);
    const run = step * rng.uniform(0.6, 1.4);
    x += Math.cos(angle) * run;
    y += Math.sin(angle) * run;
  }
  return points;
}
