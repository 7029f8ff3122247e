// The defects an inspector looks for, drawn onto a rendered good image: scratches, cracks, holes,
// contamination, stains, loose threads and missing pieces. Each records its coverage per pixel,
// and the mask comes from that coverage and the change itself, so it is the shape actually drawn.
import { Noise } from './noise.js';
import type { Colour, Outline, PathPoint, Picture, Point } from './raster.js';
import {
  blobCoverage,
  clonePicture,
  curvedPath,
  jaggedPath,
  mix,
  randomOutline,
  strokeCoverage,
} from './raster.js';
import type { Rng } from '../../shared/random.js';
import type { EdgePoint, Scene } from './scene.js';

/**
 * A pixel belongs to the defect's mask when at least half of it is covered by the defect, or when
 * the defect changed it by at least `STRONG_CHANGE` (any channel, 0–1 scale) whatever the
 * coverage: a stroke clipped at an object's outline can change a pixel a lot while covering
 * little of it. What stays outside is the faint anti-aliased fringe next to masked pixels.
 */
export const MASK_COVERAGE = 0.5;
export const STRONG_CHANGE = 8 / 255;

/** A re-rendered pixel (see `Damage.adopt`) that moved this much counts as covered. */
const ADOPTED_CHANGE = 0.25 / 255;

/** One defect being drawn onto a copy of a scene's picture. */
export class Damage {
  readonly scene: Scene;
  readonly picture: Picture;
  /** How much of each pixel the defect covers (0–1). */
  readonly coverage: Float32Array;

  constructor(scene: Scene) {
    this.scene = scene;
    this.picture = clonePicture(scene.picture);
    this.coverage = new Float32Array(scene.size * scene.size);
  }

  /** Moves pixel `i` towards colour (r, g, b) by `alpha`, and records coverage `c` there. */
  paint(i: number, c: number, alpha: number, r: number, g: number, b: number): void {
    if (c <= 0) return;
    const rgb = this.picture.rgb;
    const j = i * 3;
    rgb[j] = mix(rgb[j]!, r, alpha);
    rgb[j + 1] = mix(rgb[j + 1]!, g, alpha);
    rgb[j + 2] = mix(rgb[j + 2]!, b, alpha);
    if (c > this.coverage[i]!) this.coverage[i] = c;
  }

  /**
   * Takes over a re-rendered picture of the damaged product (a wire cut out of a grid). A pixel
   * counts as covered when it moved by a quarter of a grey level or more, which takes in the faint
   * shadow the missing piece no longer casts; smaller changes seldom reach the 8-bit image.
   */
  adopt(redrawn: Picture): void {
    const rgb = this.picture.rgb;
    for (let i = 0; i < this.coverage.length; i++) {
      const j = i * 3;
      const change = Math.max(
        Math.abs(redrawn.rgb[j]! - rgb[j]!),
        Math.abs(redrawn.rgb[j + 1]! - rgb[j + 1]!),
        Math.abs(redrawn.rgb[j + 2]! - rgb[j + 2]!),
      );
      if (change === 0) continue;
      rgb[j] = redrawn.rgb[j]!;
      rgb[j + 1] = redrawn.rgb[j + 1]!;
      rgb[j + 2] = redrawn.rgb[j + 2]!;
      if (change >= ADOPTED_CHANGE) this.coverage[i] = 1;
    }
  }

  /** Number of pixels in the mask. */
  maskArea(): number {
    let area = 0;
    for (const v of this.mask()) if (v) area++;
    return area;
  }

  /** The ground-truth mask: 255 where the defect is, 0 elsewhere. */
  mask(): Uint8Array {
    const mask = new Uint8Array(this.coverage.length);
    const before = this.scene.picture.rgb;
    const after = this.picture.rgb;
    for (let i = 0; i < mask.length; i++) {
      const j = i * 3;
      const change = Math.max(
        Math.abs(after[j]! - before[j]!),
        Math.abs(after[j + 1]! - before[j + 1]!),
        Math.abs(after[j + 2]! - before[j + 2]!),
      );
      mask[i] = this.coverage[i]! >= MASK_COVERAGE || change >= STRONG_CHANGE ? 255 : 0;
    }
    return mask;
  }

  /**
   * Coverage clipped to the product, so a defect on an object stops at the object's outline. The
   * clip is hard (pixels mostly product, or not at all): a soft clip would leave faint defect
   * pixels along the outline with nothing in the mask beside them.
   */
  clipped(coverage: Float32Array, clip: boolean): Float32Array {
    if (!clip) return coverage;
    const surface = this.scene.surface;
    for (let i = 0; i < coverage.length; i++) if (surface[i]! < 0.5) coverage[i] = 0;
    return coverage;
  }

  blank(): Float32Array {
    return new Float32Array(this.coverage.length);
  }

  /** Paints a tone change over `coverage`: `tone` > 0 lightens towards white, < 0 darkens. */
  paintTone(coverage: Float32Array, tone: number, strength = 1): void {
    const rgb = this.picture.rgb;
    eachCovered(coverage, this.scene.size, (i, c) => {
      const j = i * 3;
      const [r, g, b] = [rgb[j]!, rgb[j + 1]!, rgb[j + 2]!];
      if (tone >= 0)
        this.paint(i, c, c * strength, mix(r, 1, tone), mix(g, 1, tone), mix(b, 1, tone));
      else this.paint(i, c, c * strength, r * (1 + tone), g * (1 + tone), b * (1 + tone));
    });
  }
}

function centredStart(at: Point, heading: number, length: number): Point {
  return { x: at.x - (Math.cos(heading) * length) / 2, y: at.y - (Math.sin(heading) * length) / 2 };
}

/** A smooth line of `length` centred on `at`, in a random direction: scratches, cuts, strands. */
function lineThrough(
  rng: Rng,
  at: Point,
  length: number,
  shape: { halfWidth: number; bend: number },
): PathPoint[] {
  const heading = rng.uniform(0, 2 * Math.PI);
  return curvedPath(rng, centredStart(at, heading, length), heading, length, shape);
}

/** Coverage of a blob with a random outline around `at` (`roughness` as in randomOutline). */
function blob(
  damage: Damage,
  rng: Rng,
  options: { at: Point; radius: number; roughness: number; feather?: number; clip?: boolean },
): Float32Array {
  const outline = randomOutline(rng, options.at, options.radius, options.roughness);
  const coverage = damage.blank();
  blobCoverage(outline, damage.scene.size, coverage, { feather: options.feather });
  return damage.clipped(coverage, options.clip ?? false);
}

/** Coverage of an outline, and of the band `grow` wide around it (a hole's rim, a broken edge). */
function withBand(
  damage: Damage,
  outline: Outline,
  grow: number,
): { band: Float32Array; inside: Float32Array } {
  const size = damage.scene.size;
  const band = damage.blank();
  blobCoverage(outline, size, band, { grow });
  const inside = damage.blank();
  blobCoverage(outline, size, inside);
  return { band, inside };
}

/** Visits every pixel a coverage touches, with its coverage and position. */
function eachCovered(
  coverage: Float32Array,
  size: number,
  visit: (i: number, c: number, x: number, y: number) => void,
): void {
  for (let i = 0; i < coverage.length; i++) {
    const c = coverage[i]!;
    if (c <= 0) continue;
    const x = i % size;
    visit(i, c, x, (i - x) / size);
  }
}

/** Where a line-shaped defect lies (its middle) and how long and wide it is, in pixels. */
interface LineOptions {
  at: Point;
  length: number;
  halfWidth: number;
}

/** A scratch: a thin, smooth, slightly curved line, lighter or darker than the surface. */
export function scratch(
  damage: Damage,
  rng: Rng,
  options: LineOptions & { tone: number; bend?: number; clip?: boolean },
): void {
  const path = lineThrough(rng, options.at, options.length, {
    halfWidth: options.halfWidth,
    bend: options.bend ?? 0.04,
  });
  const coverage = damage.blank();
  strokeCoverage(path, damage.scene.size, coverage);
  damage.paintTone(damage.clipped(coverage, options.clip ?? false), options.tone);
}

/** A crack: a jagged line that branches once or twice and thins out towards its ends. */
export function crack(
  damage: Damage,
  rng: Rng,
  options: LineOptions & { tone: number; heading?: number; branches?: number; clip?: boolean },
): void {
  const heading = options.heading ?? rng.uniform(0, 2 * Math.PI);
  const jitter = 0.55;
  const main = jaggedPath(
    rng,
    centredStart(options.at, heading, options.length),
    heading,
    options.length,
    {
      halfWidth: options.halfWidth,
      jitter,
    },
  );
  const paths: PathPoint[][] = [main];
  const branches = options.branches ?? 1 + rng.int(2);
  for (let b = 0; b < branches; b++) {
    const low = Math.floor(main.length * 0.25);
    const from = main[low + rng.int(Math.ceil(main.length * 0.75) - low)]!;
    const branchHeading = heading + rng.sign() * rng.uniform(0.5, 1.1);
    paths.push(
      jaggedPath(rng, from, branchHeading, options.length * rng.uniform(0.25, 0.5), {
        halfWidth: Math.max(0.45, from.halfWidth * 0.75),
        jitter,
      }),
    );
  }
  const coverage = damage.blank();
  for (const path of paths) strokeCoverage(path, damage.scene.size, coverage);
  damage.paintTone(damage.clipped(coverage, options.clip ?? false), options.tone);
}

/** A cut: a nearly straight dark slit, its lips showing the paler material underneath. */
export function cut(
  damage: Damage,
  rng: Rng,
  options: LineOptions & { lip: number; clip?: boolean },
): void {
  const path = lineThrough(rng, options.at, options.length, {
    halfWidth: options.halfWidth,
    bend: 0.012,
  });
  const size = damage.scene.size;
  const lips = damage.blank();
  strokeCoverage(
    path.map((p) => ({ ...p, halfWidth: p.halfWidth + options.lip })),
    size,
    lips,
  );
  const slit = damage.blank();
  strokeCoverage(path, size, slit);
  damage.paintTone(damage.clipped(lips, options.clip ?? false), 0.25);
  damage.paintTone(damage.clipped(slit, options.clip ?? false), -0.8);
}

/** A hole or poke: a dark pit with a slightly raised, lit rim. */
export function hole(
  damage: Damage,
  rng: Rng,
  options: { at: Point; radius: number; rim: number; clip?: boolean },
): void {
  const outline = randomOutline(rng, options.at, options.radius, 0.18);
  const { band: rim, inside: pit } = withBand(damage, outline, options.rim);
  damage.clipped(rim, options.clip ?? false);
  damage.clipped(pit, options.clip ?? false);
  damage.paintTone(rim, 0.28);
  const rgb = damage.picture.rgb;
  eachCovered(pit, damage.scene.size, (i, c) => {
    const j = i * 3;
    // The pit keeps a trace of the material's colour: a hole in wood reads brown-black.
    damage.paint(i, c, c * 0.92, rgb[j]! * 0.12, rgb[j + 1]! * 0.1, rgb[j + 2]! * 0.09);
  });
}

/** Contamination: an opaque speck of foreign material with a rough outline and mottled colour. */
export function contamination(
  damage: Damage,
  rng: Rng,
  options: { at: Point; radius: number; colour: Readonly<Colour>; clip?: boolean },
): void {
  const coverage = blob(damage, rng, { ...options, roughness: 0.45 });
  const mottle = new Noise(rng.seed());
  const { light, size } = damage.scene;
  const [r, g, b] = options.colour;
  eachCovered(coverage, size, (i, c, x, y) => {
    const shade = light[i]! * (1 + 0.25 * mottle.fbm(x / 2.5, y / 2.5, 2));
    damage.paint(i, c, c * 0.95, r * shade, g * shade, b * shade);
  });
}

/**
 * The width of a stain's soft edge: about 3 px at 256 px, but never more than 4 px, so the faint
 * outer half of the edge (outside the mask) stays within two pixels of it.
 */
export function softEdge(unit: number): number {
  return Math.min(4, Math.max(2, 3 * unit));
}

/** A stain or discolouration: a soft-edged patch where the surface takes on a tint. */
export function stain(
  damage: Damage,
  rng: Rng,
  options: {
    at: Point;
    radius: number;
    tint: Readonly<Colour>;
    strength: number;
    feather: number;
    clip?: boolean;
  },
): void {
  const coverage = blob(damage, rng, { ...options, roughness: 0.35 });
  const mottle = new Noise(rng.seed());
  const rgb = damage.picture.rgb;
  const [tr, tg, tb] = options.tint;
  eachCovered(coverage, damage.scene.size, (i, c, x, y) => {
    const alpha = c * options.strength * (0.8 + 0.2 * mottle.fbm(x / 6, y / 6, 2));
    const j = i * 3;
    damage.paint(i, c, alpha, rgb[j]! * tr, rgb[j + 1]! * tg, rgb[j + 2]! * tb);
  });
}

/** A loose thread, hair or fibre lying on the surface, in a colour of its own. */
export function strand(
  damage: Damage,
  rng: Rng,
  options: LineOptions & { colour: Readonly<Colour> },
): void {
  const path = lineThrough(rng, options.at, options.length, {
    halfWidth: options.halfWidth,
    bend: 0.07,
  });
  const coverage = damage.blank();
  strokeCoverage(path, damage.scene.size, coverage);
  const { light } = damage.scene;
  const [r, g, b] = options.colour;
  eachCovered(coverage, damage.scene.size, (i, c) =>
    damage.paint(i, c, c, r * light[i]!, g * light[i]!, b * light[i]!),
  );
}

/**
 * A missing piece: a bite out of an object's edge, through which the backdrop shows, with the
 * broken face of the material as a thin band along the new edge (`edgeTone` as in `paintTone`).
 */
export function missingPiece(
  damage: Damage,
  rng: Rng,
  options: { edge: EdgePoint; radius: number; edgeTone: number; edgeWidth: number; inset?: number },
): void {
  const { edge, radius } = options;
  // By default centred a little outside the outline, so the bite takes a piece rather than
  // punching a hole; `inset` (a share of the radius) moves it inwards, e.g. onto a corner.
  const out = -(options.inset ?? -0.3) * radius;
  const centre = { x: edge.x + edge.nx * out, y: edge.y + edge.ny * out };
  const outline: Outline = randomOutline(rng, centre, radius, 0.3);
  const { band, inside: bite } = withBand(damage, outline, options.edgeWidth);
  damage.paintTone(damage.clipped(band, true), options.edgeTone);
  const { surface, backdrop, size } = damage.scene;
  eachCovered(bite, size, (i, c) => {
    if (surface[i]! <= 0) return;
    const j = i * 3;
    // Where the pixel was only partly object, only that part goes: coverage is the share removed.
    damage.paint(
      i,
      c * surface[i]!,
      c,
      backdrop.rgb[j]!,
      backdrop.rgb[j + 1]!,
      backdrop.rgb[j + 2]!,
    );
  });
}
