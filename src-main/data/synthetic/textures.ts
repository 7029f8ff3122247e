// The texture types: a woven wire grid, wood grain and leather grain. Each fills the frame and
// varies in phase, orientation, colour and lighting from one good image to the next.
import {
  contamination,
  crack,
  cut,
  softEdge,
  hole,
  scratch,
  stain,
  strand,
  type Damage,
} from './defects.js';
import { Noise } from './noise.js';
import type { Colour, Picture, Point } from './raster.js';
import {
  applyLight,
  clamp01,
  createPicture,
  lightingField,
  mix,
  smoothstep,
  varyColour,
} from './raster.js';
import type { Rng } from '../../shared/random.js';
import { noSuchDefect, type ProductType, type Scene } from './scene.js';

/** Textures have no outline: a defect may sit anywhere, away from the border. */
function anywhere(size: number) {
  return (rng: Rng): Point => ({
    x: rng.uniform(0.12, 0.88) * size,
    y: rng.uniform(0.12, 0.88) * size,
  });
}

/** A texture is all product: the backdrop (never revealed) is the picture itself. */
function flatTexture(size: number, unit: number, picture: Picture, light: Float32Array) {
  return {
    size,
    unit,
    picture,
    backdrop: picture,
    surface: new Float32Array(size * size).fill(1),
    light,
  };
}

// ---------------------------------------------------------------------------------------------
// Woven grid: two families of round wires, over-under like a woven mesh, dark gaps behind.

interface GridLook {
  period: number;
  cos: number;
  sin: number;
  phaseA: number;
  phaseB: number;
  /** Wire half-width as a fraction of the period. */
  halfWidth: number;
  wobble: number;
  wire: Colour;
  noise: Noise;
}

/** A stretch of one wire that is missing: wire `line` of the family running along a or b. */
interface BrokenWire {
  alongA: boolean;
  line: number;
  from: number;
  to: number;
}

/** Mesh coordinates (a, b) of a pixel, in wire periods, written into `out`. */
function gridCoordinates(look: GridLook, px: number, py: number, out: Float64Array): void {
  const { noise, period } = look;
  const s = period * 2.3;
  // A real mesh is never perfectly regular: the wires wander a little.
  out[0] =
    (px * look.cos + py * look.sin) / period +
    look.phaseA +
    look.wobble * noise.gradient(px / s, py / s, 1);
  out[1] =
    (-px * look.sin + py * look.cos) / period +
    look.phaseB +
    look.wobble * noise.gradient(px / s + 31.7, py / s + 11.1, 2);
}

/** How much of wire `line` is missing at position `t` along it (0 where it is intact). */
function brokenShare(
  broken: BrokenWire | null,
  alongA: boolean,
  line: number,
  t: number,
  across: number,
  noise: Noise,
): number {
  if (!broken || broken.alongA !== alongA || broken.line !== line) return 0;
  // Frayed ends: the break line is ragged across the wire.
  const from = broken.from + 0.12 * noise.gradient(across * 9, line * 3.1, 3);
  const to = broken.to + 0.12 * noise.gradient(across * 9 + 50, line * 3.1, 3);
  return smoothstep(from - 0.03, from + 0.03, t) * (1 - smoothstep(to - 0.03, to + 0.03, t));
}

/** Brightness of a round wire at distance `d` from its centre line and height `z` (-1 to 1). */
function wireDiffuse(d: number, z: number, halfWidth: number): number {
  const profile = Math.sqrt(Math.max(0, 1 - (d / halfWidth) * (d / halfWidth)));
  return (0.28 + 0.62 * profile) * (0.7 + 0.3 * (z * 0.5 + 0.5));
}

function wireSpecular(d: number, z: number, halfWidth: number): number {
  const profile = Math.sqrt(Math.max(0, 1 - (d / halfWidth) * (d / halfWidth)));
  return 0.45 * profile ** 14 * (0.6 + 0.4 * z);
}

function drawGrid(look: GridLook, size: number, light: Float32Array, broken: BrokenWire | null) {
  const picture = createPicture(size);
  const backdrop = createPicture(size);
  const surface = new Float32Array(size * size);
  const { noise, period, wire } = look;
  const w = look.halfWidth;
  const ab = new Float64Array(2);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      const px = x + 0.5;
      const py = y + 0.5;
      gridCoordinates(look, px, py, ab);
      const a = ab[0]!;
      const b = ab[1]!;
      const ia = Math.floor(a);
      const ib = Math.floor(b);
      const dRow = Math.abs(b - ib - 0.5);
      const dCol = Math.abs(a - ia - 0.5);
      const cutRow = brokenShare(broken, true, ib, a, b - ib, noise);
      const cutCol = brokenShare(broken, false, ia, b, a - ia, noise);
      const covRow = clamp01((w - dRow) * period + 0.5) * (1 - cutRow);
      const covCol = clamp01((w - dCol) * period + 0.5) * (1 - cutCol);
      // Heights of the two wires: each rises over one crossing and dips under the next.
      const zRow = (ib & 1 ? -1 : 1) * Math.cos(Math.PI * (a - 0.5));
      const zCol = (ia & 1 ? 1 : -1) * Math.cos(Math.PI * (b - 0.5));
      const rowOnTop = zRow > zCol;
      const micro = 0.05 * noise.gradient(px * 0.3, py * 0.3, 4);
      // The lower wire lies in the upper wire's shadow next to it.
      const nearRow = (1 - smoothstep(w, w + 0.16, dRow)) * (1 - cutRow);
      const nearCol = (1 - smoothstep(w, w + 0.16, dCol)) * (1 - cutCol);
      let rowBright = covRow > 0 ? wireDiffuse(dRow, zRow, w) + micro : 0;
      let colBright = covCol > 0 ? wireDiffuse(dCol, zCol, w) + micro : 0;
      if (rowOnTop) colBright *= 1 - 0.55 * nearRow;
      else rowBright *= 1 - 0.55 * nearCol;
      const rowSpec = covRow > 0 ? wireSpecular(dRow, zRow, w) : 0;
      const colSpec = covCol > 0 ? wireSpecular(dCol, zCol, w) : 0;
      const gap =
        (0.075 + 0.03 * noise.fbm(px / 40, py / 40, 2)) * (1 - 0.5 * Math.max(nearRow, nearCol));
      const l = light[i]!;
      let r = gap * 0.95;
      let g = gap;
      let bl = gap * 1.08;
      backdrop.rgb[i * 3] = r * l;
      backdrop.rgb[i * 3 + 1] = g * l;
      backdrop.rgb[i * 3 + 2] = bl * l;
      // Lower wire first, then the upper one over it.
      for (let layer = 0; layer < 2; layer++) {
        const isRow = (layer === 1) === rowOnTop;
        const cov = isRow ? covRow : covCol;
        if (cov <= 0) continue;
        const bright = isRow ? rowBright : colBright;
        const spec = isRow ? rowSpec : colSpec;
        r = mix(r, wire[0] * bright + spec, cov);
        g = mix(g, wire[1] * bright + spec, cov);
        bl = mix(bl, wire[2] * bright + spec, cov);
      }
      picture.rgb[i * 3] = r * l;
      picture.rgb[i * 3 + 1] = g * l;
      picture.rgb[i * 3 + 2] = bl * l;
      surface[i] = Math.max(covRow, covCol);
    }
  }
  return { picture, backdrop, surface };
}

export const grid: ProductType = {
  name: 'grid',
  kind: 'texture',
  description: 'woven wire mesh',
  defectKinds: ['broken', 'contamination', 'thread'],
  render(rng, size) {
    const unit = size / 256;
    const look: GridLook = {
      period: size / rng.uniform(10, 12.5),
      cos: 0,
      sin: 0,
      phaseA: rng.next(),
      phaseB: rng.next(),
      halfWidth: rng.uniform(0.26, 0.31),
      wobble: rng.uniform(0.02, 0.05),
      wire: varyColour(rng, [0.6, 0.61, 0.6], 0.08),
      noise: new Noise(rng.seed()),
    };
    const angle = rng.uniform(-0.12, 0.12);
    look.cos = Math.cos(angle);
    look.sin = Math.sin(angle);
    const light = lightingField(rng, size);
    const { picture, backdrop, surface } = drawGrid(look, size, light, null);
    const pickSpot = anywhere(size);
    return {
      size,
      unit,
      picture,
      backdrop,
      surface,
      light,
      pickSpot,
      addDefect(kind: string, damage: Damage, defectRng: Rng) {
        const at = pickSpot(defectRng);
        if (kind === 'broken') {
          const alongA = defectRng.chance(0.5);
          const ab = new Float64Array(2);
          gridCoordinates(look, at.x, at.y, ab);
          const a = ab[0]!;
          const b = ab[1]!;
          const t = alongA ? a : b;
          // Long enough to span a crossing, so the gap always shows somewhere.
          const length = defectRng.uniform(0.9, 1.6);
          const brokenWire = {
            alongA,
            line: Math.floor(alongA ? b : a),
            from: t - length / 2,
            to: t + length / 2,
          };
          damage.adopt(drawGrid(look, size, light, brokenWire).picture);
        } else if (kind === 'contamination') {
          const colour = defectRng.pick<Colour>([
            [0.5, 0.36, 0.2],
            [0.82, 0.8, 0.74],
            [0.62, 0.45, 0.3],
          ]);
          contamination(damage, defectRng, { at, radius: unit * defectRng.uniform(4, 8), colour });
        } else if (kind === 'thread') {
          const colour = defectRng.pick<Colour>([
            [0.12, 0.1, 0.09],
            [0.6, 0.16, 0.12],
            [0.18, 0.24, 0.6],
          ]);
          strand(damage, defectRng, {
            at,
            length: unit * defectRng.uniform(55, 110),
            halfWidth: Math.max(0.6, unit * defectRng.uniform(0.8, 1.1)),
            colour,
          });
        } else noSuchDefect('grid', kind);
      },
    } satisfies Scene;
  },
};

// ---------------------------------------------------------------------------------------------
// Wood: growth rings cut lengthwise, wandering lines with fibre streaks and pores.

export const wood: ProductType = {
  name: 'wood',
  kind: 'texture',
  description: 'wood grain',
  defectKinds: ['scratch', 'hole', 'stain', 'crack'],
  render(rng, size) {
    const unit = size / 256;
    const grainAngle = Math.PI / 2 + rng.uniform(-0.22, 0.22);
    const cos = Math.cos(grainAngle);
    const sin = Math.sin(grainAngle);
    const ringSpacing = size / rng.uniform(8, 13);
    const phase = rng.next() * 10;
    const warp = rng.uniform(1.2, 2.4);
    const pale = varyColour(rng, [0.8, 0.61, 0.41], 0.07);
    const dark = varyColour(rng, [0.5, 0.31, 0.16], 0.08);
    const noise = new Noise(rng.seed());
    const offset = rng.uniform(0, 1000);
    const light = lightingField(rng, size);
    const picture = createPicture(size);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const px = x + 0.5;
        const py = y + 0.5;
        // u runs along the grain, v across it (in 256-pixel units, so the look keeps its scale).
        const u = (px * cos + py * sin) / unit + offset;
        const v = (-px * sin + py * cos) / unit;
        const wander = warp * noise.fbm(u / 230, v / 90, 3);
        const rings =
          (v * unit) / ringSpacing + phase + wander + 0.12 * noise.gradient(u / 40, v / 8, 5);
        const f = rings - Math.floor(rings);
        // Early wood fades into the darker late wood, which ends abruptly at the next ring.
        const late = smoothstep(0.4, 0.93, f) - smoothstep(0.95, 1, f);
        const fibres = noise.fbm(u * 0.012, v * 0.55, 3);
        const pore = smoothstep(0.5, 0.85, noise.gradient(u * 0.08, v * 1.1, 77)) * 0.3;
        const figure = 0.15 * noise.fbm(u / 120, v / 60, 2, 2, 0.5);
        const tone = clamp01(late * 0.72 + 0.18 * fibres + figure + 0.12);
        const grain = (1 - pore) * (1 + 0.08 * fibres);
        const i = (y * size + x) * 3;
        picture.rgb[i] = mix(pale[0], dark[0], tone) * grain;
        picture.rgb[i + 1] = mix(pale[1], dark[1], tone) * grain;
        picture.rgb[i + 2] = mix(pale[2], dark[2], tone) * grain;
      }
    }
    applyLight(picture, light);
    const pickSpot = anywhere(size);
    return {
      ...flatTexture(size, unit, picture, light),
      pickSpot,
      addDefect(kind: string, damage: Damage, defectRng: Rng) {
        const at = pickSpot(defectRng);
        if (kind === 'scratch') {
          scratch(damage, defectRng, {
            at,
            length: unit * defectRng.uniform(45, 100),
            halfWidth: Math.max(0.6, unit * defectRng.uniform(0.9, 1.5)),
            tone: defectRng.uniform(0.3, 0.45),
            bend: 0.03,
          });
        } else if (kind === 'hole') {
          hole(damage, defectRng, {
            at,
            radius: unit * defectRng.uniform(4.5, 8),
            rim: 1.5 * unit,
          });
        } else if (kind === 'stain') {
          stain(damage, defectRng, {
            at,
            radius: unit * defectRng.uniform(12, 24),
            tint: [0.62, 0.54, 0.48],
            strength: defectRng.uniform(0.6, 0.85),
            feather: softEdge(unit),
          });
        } else if (kind === 'crack') {
          // Wood splits along the grain.
          crack(damage, defectRng, {
            at,
            heading:
              grainAngle + defectRng.uniform(-0.25, 0.25) + (defectRng.chance(0.5) ? Math.PI : 0),
            length: unit * defectRng.uniform(40, 90),
            halfWidth: Math.max(0.6, unit * defectRng.uniform(0.9, 1.4)),
            tone: -0.75,
            branches: defectRng.int(2),
          });
        } else noSuchDefect('wood', kind);
      },
    } satisfies Scene;
  },
};

// ---------------------------------------------------------------------------------------------
// Leather: a network of fine grooves between raised grain cells, with larger creases, lit by a
// raking light so the relief shows.

export const leather: ProductType = {
  name: 'leather',
  kind: 'texture',
  description: 'leather grain',
  defectKinds: ['cut', 'poke', 'stain'],
  render(rng, size) {
    const unit = size / 256;
    const cell = unit * rng.uniform(5.5, 7);
    const angle = rng.uniform(0, 2 * Math.PI);
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    const ox = rng.uniform(0, 500);
    const oy = rng.uniform(0, 500);
    const base = varyColour(rng, [0.52, 0.3, 0.18], 0.1);
    const noise = new Noise(rng.seed());
    const azimuth = rng.uniform(-2.6, -1.9);
    const lx = Math.cos(azimuth) * 0.75;
    const ly = Math.sin(azimuth) * 0.75;
    const lz = 0.66;
    const light = lightingField(rng, size);
    const height = new Float32Array(size * size);
    const grooveAt = new Float32Array(size * size);
    const f = new Float64Array(2);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const px = x + 0.5;
        const py = y + 0.5;
        const s = (px * cos + py * sin) / cell + ox;
        const t = (-px * sin + py * cos) / cell + oy;
        const ws = s + 0.35 * noise.gradient(s * 0.5, t * 0.5, 1);
        const wt = t + 0.35 * noise.gradient(s * 0.5, t * 0.5, 2);
        noise.cellular(ws, wt, f);
        // Pebbles: each cell a rounded bump, lowest along the borders it shares with neighbours.
        const border = (f[1]! - f[0]!) / (f[1]! + f[0]!);
        const pebble = Math.sqrt(smoothstep(0, 0.55, border));
        noise.cellular(ws / 3.4, wt / 3.4, f, 9);
        const crease = 1 - smoothstep(0, 0.07, f[1]! - f[0]!);
        const i = y * size + x;
        height[i] = 0.6 * pebble - 0.35 * crease + 0.25 * noise.fbm(s * 0.25, t * 0.25, 3);
        grooveAt[i] = Math.max(1 - smoothstep(0, 0.3, border), crease * 0.7);
      }
    }
    const picture = createPicture(size);
    const relief = 1.6 / unit;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const i = y * size + x;
        const left = height[y * size + Math.max(0, x - 1)]!;
        const right = height[y * size + Math.min(size - 1, x + 1)]!;
        const up = height[Math.max(0, y - 1) * size + x]!;
        const down = height[Math.min(size - 1, y + 1) * size + x]!;
        const nx = (left - right) * relief;
        const ny = (up - down) * relief;
        const diffuse = Math.max(0, (nx * lx + ny * ly + lz) / Math.sqrt(nx * nx + ny * ny + 1));
        const sheen = 0.06 * diffuse ** 8;
        const shade = (0.4 + 0.7 * diffuse) * (1 - 0.18 * grooveAt[i]!);
        picture.rgb[i * 3] = base[0] * shade + sheen;
        picture.rgb[i * 3 + 1] = base[1] * shade + sheen;
        picture.rgb[i * 3 + 2] = base[2] * shade + sheen;
      }
    }
    applyLight(picture, light);
    const pickSpot = anywhere(size);
    return {
      ...flatTexture(size, unit, picture, light),
      pickSpot,
      addDefect(kind: string, damage: Damage, defectRng: Rng) {
        const at = pickSpot(defectRng);
        if (kind === 'cut') {
          cut(damage, defectRng, {
            at,
            length: unit * defectRng.uniform(35, 75),
            halfWidth: Math.max(0.6, unit * defectRng.uniform(0.8, 1.2)),
            lip: 1.2 * unit,
          });
        } else if (kind === 'poke') {
          hole(damage, defectRng, {
            at,
            radius: unit * defectRng.uniform(3.5, 6),
            rim: 1.8 * unit,
          });
        } else if (kind === 'stain') {
          const tint = defectRng.pick<Colour>([
            [0.5, 0.46, 0.48],
            [1.65, 1.6, 1.55],
          ]);
          stain(damage, defectRng, {
            at,
            radius: unit * defectRng.uniform(10, 22),
            tint,
            strength: defectRng.uniform(0.65, 0.85),
            feather: softEdge(unit),
          });
        } else noSuchDefect('leather', kind);
      },
    } satisfies Scene;
  },
};
