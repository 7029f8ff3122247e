// The object types: a glass bottle seen from above, a pill and a hex nut. Each sits on its own
// backdrop, shifted and turned a little (the nut and the bottle any way round) under varied light.
import {
  contamination,
  crack,
  missingPiece,
  scratch,
  softEdge,
  stain,
  type Damage,
} from './defects.js';
import { Noise } from './noise.js';
import type { Colour, Picture, Point } from './raster.js';
import { clamp01, createPicture, lightingField, mix, smoothstep, varyColour } from './raster.js';
import type { Rng } from '../../shared/random.js';
import { noSuchDefect, type EdgePoint, type ProductType, type Scene } from './scene.js';

interface Lamp {
  /** Unit vector towards the lamp. */
  x: number;
  y: number;
  z: number;
  /** Half-way vector between lamp and camera, for highlights. */
  hx: number;
  hy: number;
  hz: number;
}

/** A lamp up and to the left, its direction varying a little per image. */
function pickLamp(rng: Rng): Lamp {
  const azimuth = -2.3 + rng.uniform(-0.4, 0.4);
  const elevation = rng.uniform(0.75, 1.0);
  const x = Math.cos(azimuth) * Math.cos(elevation);
  const y = Math.sin(azimuth) * Math.cos(elevation);
  const z = Math.sin(elevation);
  const hl = Math.hypot(x, y, z + 1);
  return { x, y, z, hx: x / hl, hy: y / hl, hz: (z + 1) / hl };
}

/** Diffuse and specular light on one surface point; `lit` reuses it to spare an allocation. */
const shading = { diffuse: 0, specular: 0 };

/** Shades a surface whose normal is (nx, ny, 1), normalised here. */
function lit(lamp: Lamp, nx: number, ny: number, shininess: number): typeof shading {
  const n = Math.hypot(nx, ny, 1);
  shading.diffuse = Math.max(0, (nx * lamp.x + ny * lamp.y + lamp.z) / n);
  shading.specular = Math.max(0, (nx * lamp.hx + ny * lamp.hy + lamp.hz) / n) ** shininess;
  return shading;
}

/** Samples points until one passes `accept`; falls back to the last so it always returns. */
function sampleWhere(propose: () => Point, accept: (p: Point) => boolean): Point {
  let point = propose();
  for (let tries = 0; tries < 200 && !accept(point); tries++) point = propose();
  return point;
}

/** Where an object sits: near the centre, a few per cent off; `unit` is a 256-px image's pixel. */
function placeObject(rng: Rng, size: number) {
  return {
    unit: size / 256,
    cx: size * (0.5 + rng.uniform(-0.035, 0.035)),
    cy: size * (0.5 + rng.uniform(-0.035, 0.035)),
  };
}

/** One shot's lamp, surface noise and lighting, and the empty layers the object is drawn into. */
function studio(rng: Rng, size: number) {
  return {
    lamp: pickLamp(rng),
    noise: new Noise(rng.seed()),
    light: lightingField(rng, size),
    parts: emptyParts(size),
  };
}

/** The point of the outline at `angle` and `reach` from the centre, facing outwards. */
function edgeAt(cx: number, cy: number, angle: number, reach: number): EdgePoint {
  return {
    x: cx + Math.cos(angle) * reach,
    y: cy + Math.sin(angle) * reach,
    nx: Math.cos(angle),
    ny: Math.sin(angle),
  };
}

/** Foreign matter on the object: one of `colours`, `radius` in 256-px units, at a spot on it. */
function contaminate(
  damage: Damage,
  rng: Rng,
  pickSpot: Scene['pickSpot'],
  colours: readonly Colour[],
  radius: [number, number],
): void {
  const colour = rng.pick(colours);
  contamination(damage, rng, {
    at: pickSpot(rng),
    radius: damage.scene.unit * rng.uniform(radius[0], radius[1]),
    colour,
    clip: true,
  });
}

/** A stain on the object in `tint`, 8 to 16 units across, at a spot on it. */
function stainOn(damage: Damage, rng: Rng, pickSpot: Scene['pickSpot'], tint: Colour): void {
  const { unit } = damage.scene;
  stain(damage, rng, {
    at: pickSpot(rng),
    radius: unit * rng.uniform(8, 16),
    tint,
    strength: rng.uniform(0.75, 0.95),
    feather: softEdge(unit),
    clip: true,
  });
}

interface ObjectParts {
  picture: Picture;
  backdrop: Picture;
  surface: Float32Array;
}

function emptyParts(size: number): ObjectParts {
  return {
    picture: createPicture(size),
    backdrop: createPicture(size),
    surface: new Float32Array(size * size),
  };
}

/**
 * Writes one pixel: the backdrop colour (br, bg, bb), with the object's colour (or, og, ob) over
 * it by the object's coverage, both lit.
 */
function put(
  parts: ObjectParts,
  i: number,
  light: number,
  br: number,
  bg: number,
  bb: number,
  or: number,
  og: number,
  ob: number,
  coverage: number,
): void {
  const j = i * 3;
  parts.backdrop.rgb[j] = br * light;
  parts.backdrop.rgb[j + 1] = bg * light;
  parts.backdrop.rgb[j + 2] = bb * light;
  parts.picture.rgb[j] = mix(br, or, coverage) * light;
  parts.picture.rgb[j + 1] = mix(bg, og, coverage) * light;
  parts.picture.rgb[j + 2] = mix(bb, ob, coverage) * light;
  parts.surface[i] = coverage;
}

// ---------------------------------------------------------------------------------------------
// Bottle: the neck of an amber glass bottle from above: a rounded lip, the inner wall of the neck
// falling away into the dark, and a faint reflection from the bottom.

/** What falls into a bottle neck: dust, flakes of label, grit. */
const bottleSpecks: readonly Colour[] = [
  [0.62, 0.58, 0.5],
  [0.8, 0.78, 0.72],
  [0.45, 0.42, 0.3],
];

export const bottle: ProductType = {
  name: 'bottle',
  kind: 'object',
  description: 'glass bottle neck, seen from above',
  defectKinds: ['broken', 'crack', 'contamination'],
  render(rng, size) {
    const { unit, cx, cy } = placeObject(rng, size);
    const turn = rng.uniform(0, 2 * Math.PI);
    const outer = size * 0.4 * rng.uniform(0.97, 1.03);
    const lipInner = outer * 0.74;
    const opening = outer * 0.47;
    const glass = varyColour(rng, [0.52, 0.33, 0.13], 0.08);
    const { lamp, noise, light, parts } = studio(rng, size);
    // The bottom of the bottle reflects the lamp: a soft bright patch, off-centre.
    const glowX = cx - lamp.x * opening * 0.35;
    const glowY = cy - lamp.y * opening * 0.35;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const i = y * size + x;
        const px = x + 0.5;
        const py = y + 0.5;
        const dx = px - cx;
        const dy = py - cy;
        const r = Math.hypot(dx, dy) || 1e-6;
        const ux = dx / r;
        const uy = dy / r;
        // Angle-dependent noise sampled on a circle, so it wraps around without a seam.
        const turned = Math.atan2(dy, dx) - turn;
        const ca = Math.cos(turned);
        const sa = Math.sin(turned);
        const b = 0.035 + 0.012 * noise.fbm(px / (20 * unit), py / (20 * unit), 2);
        const coverage = clamp01(outer - r + 0.5);
        let k = 0;
        let specular = 0;
        if (coverage > 0) {
          if (r >= lipInner) {
            const t = (r - lipInner) / (outer - lipInner);
            const slope = 1.4 * Math.cos(Math.PI * t);
            const { diffuse, specular: highlight } = lit(lamp, -ux * slope, -uy * slope, 45);
            const thickness =
              1 +
              0.12 * noise.fbm(ca * 2.5, sa * 2.5, 3) +
              0.05 * noise.gradient(r / (3 * unit), ca * 6, 9);
            // The mould seam: a faint ridge across the lip at one angle, which shows the rotation.
            const seam = ca > 0 ? 0.1 * (1 - smoothstep(0.6, 1.6, Math.abs(sa) * r)) : 0;
            k = (0.22 + 0.95 * diffuse) * thickness + seam;
            specular = highlight;
          } else if (r >= opening) {
            const w = (r - opening) / (lipInner - opening);
            const facing = Math.max(0, -(ux * lamp.x + uy * lamp.y));
            const streak = 1 + 0.25 * noise.fbm(ca * 5, sa * 5 + r / (25 * unit), 3);
            const rim = 0.25 * (1 - smoothstep(0, 1.8 * unit, lipInner - r));
            k = (0.1 + 0.6 * w ** 0.8 * (0.3 + 0.7 * facing)) * streak + rim;
          } else {
            const glow =
              0.5 * (1 - smoothstep(0, opening * 0.55, Math.hypot(px - glowX, py - glowY)));
            k = 0.06 + glow * (1 + 0.3 * noise.fbm(px / (8 * unit), py / (8 * unit), 2));
          }
        }
        put(
          parts,
          i,
          light[i]!,
          b,
          b,
          b * 1.05,
          glass[0] * k + 0.9 * specular,
          glass[1] * k + 0.85 * specular,
          glass[2] * k + 0.75 * specular,
          coverage,
        );
      }
    }
    const onGlass = (p: Point, inner: number) => {
      const r = Math.hypot(p.x - cx, p.y - cy);
      return r > inner && r < outer - 3 * unit;
    };
    const propose = (rngFor: Rng) => () => ({
      x: cx + rngFor.uniform(-outer, outer),
      y: cy + rngFor.uniform(-outer, outer),
    });
    const pickSpot = (spotRng: Rng) =>
      sampleWhere(propose(spotRng), (p) => onGlass(p, opening + 4 * unit));
    return {
      size,
      unit,
      ...parts,
      light,
      pickSpot,
      addDefect(kind: string, damage: Damage, defectRng: Rng) {
        if (kind === 'broken') {
          const edge = edgeAt(cx, cy, defectRng.uniform(0, 2 * Math.PI), outer);
          missingPiece(damage, defectRng, {
            edge,
            radius: unit * defectRng.uniform(9, 15),
            edgeTone: 0.45,
            edgeWidth: 1.5 * unit,
          });
        } else if (kind === 'crack') {
          // Cracks in glass catch the light: a pale, jagged line across the lip.
          const at = sampleWhere(propose(defectRng), (p) => onGlass(p, lipInner + 2 * unit));
          crack(damage, defectRng, {
            at,
            length: unit * defectRng.uniform(35, 65),
            halfWidth: Math.max(0.6, unit * defectRng.uniform(0.9, 1.3)),
            tone: 0.55,
            clip: true,
          });
        } else if (kind === 'contamination') {
          contaminate(damage, defectRng, pickSpot, bottleSpecks, [4, 7.5]);
        } else noSuchDefect('bottle', kind);
      },
    } satisfies Scene;
  },
};

// ---------------------------------------------------------------------------------------------
// Pill: an oblong white tablet with a score line and red speckles, on a dark tray, casting a soft
// shadow.

/** Specks pressed into a tablet, and the stains of what it touched. */
const pillSpecks: readonly Colour[] = [
  [0.3, 0.2, 0.12],
  [0.16, 0.16, 0.17],
  [0.42, 0.45, 0.22],
];
const pillStains: readonly Colour[] = [
  [0.95, 0.7, 0.4],
  [0.92, 0.58, 0.66],
  [0.7, 0.66, 0.6],
];

export const pill: ProductType = {
  name: 'pill',
  kind: 'object',
  description: 'oblong speckled tablet',
  defectKinds: ['chip', 'crack', 'contamination', 'stain'],
  render(rng, size) {
    const { unit, cx, cy } = placeObject(rng, size);
    const turn = rng.uniform(-0.18, 0.18);
    const cos = Math.cos(turn);
    const sin = Math.sin(turn);
    const straight = size * 0.17 * rng.uniform(0.97, 1.03);
    const radius = size * 0.125 * rng.uniform(0.97, 1.03);
    const white = varyColour(rng, [0.9, 0.88, 0.82], 0.04);
    const speck: Colour = [0.74, 0.3, 0.26];
    const tray = varyColour(rng, [0.13, 0.15, 0.18], 0.1);
    const { lamp, noise, light, parts } = studio(rng, size);
    const shadowX = -lamp.x * 6 * unit;
    const shadowY = -lamp.y * 6 * unit;
    /** Distance from a point in the tablet's own frame to its centre segment. */
    const distance = (lx: number, ly: number) =>
      Math.hypot(Math.max(Math.abs(lx) - straight, 0), ly);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const i = y * size + x;
        const px = x + 0.5;
        const py = y + 0.5;
        const sdx = px - shadowX - cx;
        const sdy = py - shadowY - cy;
        const shadowDistance = distance(sdx * cos + sdy * sin, -sdx * sin + sdy * cos) - radius;
        const shadow = 1 - 0.55 * (1 - smoothstep(-5 * unit, 7 * unit, shadowDistance));
        const t = (1 + 0.05 * noise.fbm(px / (30 * unit), py / (30 * unit), 2)) * shadow;
        const dx = px - cx;
        const dy = py - cy;
        const lx = dx * cos + dy * sin;
        const ly = -dx * sin + dy * cos;
        const qx = Math.max(Math.abs(lx) - straight, 0);
        const d = Math.hypot(qx, ly);
        const coverage = clamp01(radius - d + 0.5);
        let or = 0;
        let og = 0;
        let ob = 0;
        if (coverage > 0) {
          const q = Math.min(1, d / radius);
          // Flat on top, curving down steeply near the rim.
          const slope = 2.4 * smoothstep(0.55, 1, q) ** 1.5 + 0.1 * q;
          const dirX = d > 0 ? (Math.sign(lx) * qx) / d : 0;
          const dirY = d > 0 ? ly / d : 0;
          const wx = dirX * cos - dirY * sin;
          const wy = dirX * sin + dirY * cos;
          const { diffuse, specular } = lit(lamp, wx * slope, wy * slope, 30);
          const dots =
            smoothstep(0.6, 0.8, noise.gradient(lx / (3.2 * unit), ly / (3.2 * unit), 11)) * 0.75;
          const score = q < 0.8 ? 1 - smoothstep(0.5 * unit, 1.6 * unit, Math.abs(lx)) : 0;
          const grain = 1 + 0.04 * noise.fbm(lx / (4 * unit), ly / (4 * unit), 2);
          const k = (0.3 + 0.8 * diffuse) * (1 - 0.3 * score) * grain;
          or = mix(white[0], speck[0], dots) * k + 0.22 * specular;
          og = mix(white[1], speck[1], dots) * k + 0.22 * specular;
          ob = mix(white[2], speck[2], dots) * k + 0.22 * specular;
        }
        put(parts, i, light[i]!, tray[0] * t, tray[1] * t, tray[2] * t, or, og, ob, coverage);
      }
    }
    const toWorld = (lx: number, ly: number) => ({
      x: cx + lx * cos - ly * sin,
      y: cy + lx * sin + ly * cos,
    });
    const pickSpot = (spotRng: Rng) => {
      const p = sampleWhere(
        () => ({
          x: spotRng.uniform(-straight - radius, straight + radius),
          y: spotRng.uniform(-radius, radius),
        }),
        (p) => distance(p.x, p.y) < radius * 0.72,
      );
      return toWorld(p.x, p.y);
    };
    const pickEdge = (edgeRng: Rng): EdgePoint => {
      let lx: number;
      let ly: number;
      let nx: number;
      let ny: number;
      if (edgeRng.chance(0.5)) {
        const side = edgeRng.sign();
        lx = edgeRng.uniform(-straight, straight);
        ly = side * radius;
        nx = 0;
        ny = side;
      } else {
        const end = edgeRng.sign();
        const a = edgeRng.uniform(-Math.PI / 2, Math.PI / 2);
        nx = end * Math.cos(a);
        ny = Math.sin(a);
        lx = end * straight + nx * radius;
        ly = ny * radius;
      }
      const p = toWorld(lx, ly);
      return { ...p, nx: nx * cos - ny * sin, ny: nx * sin + ny * cos };
    };
    return {
      size,
      unit,
      ...parts,
      light,
      pickSpot,
      addDefect(kind: string, damage: Damage, defectRng: Rng) {
        if (kind === 'chip') {
          missingPiece(damage, defectRng, {
            edge: pickEdge(defectRng),
            radius: unit * defectRng.uniform(8, 13),
            edgeTone: -0.3,
            edgeWidth: 1.5 * unit,
          });
        } else if (kind === 'crack') {
          crack(damage, defectRng, {
            at: pickSpot(defectRng),
            length: unit * defectRng.uniform(35, 60),
            halfWidth: Math.max(0.6, unit * defectRng.uniform(0.9, 1.3)),
            tone: -0.7,
            branches: 1,
            clip: true,
          });
        } else if (kind === 'contamination') {
          contaminate(damage, defectRng, pickSpot, pillSpecks, [3.8, 6]);
        } else if (kind === 'stain') {
          stainOn(damage, defectRng, pickSpot, defectRng.pick(pillStains));
        } else noSuchDefect('pill', kind);
      },
    } satisfies Scene;
  },
};

// ---------------------------------------------------------------------------------------------
// Nut: a steel hex nut from above: turned face with a chamfer at the corners, a threaded bore
// with the backdrop visible through it, on grey card.

/** Signed distance to a hexagon, flat top and bottom, of the given apothem (negative inside). */
function hexagonDistance(x: number, y: number, apothem: number): number {
  const kx = -0.866025404;
  const ky = 0.5;
  const kz = 0.577350269;
  let px = Math.abs(x);
  let py = Math.abs(y);
  const fold = 2 * Math.min(kx * px + ky * py, 0);
  px -= fold * kx;
  py -= fold * ky;
  px -= Math.max(-kz * apothem, Math.min(kz * apothem, px));
  py -= apothem;
  return Math.hypot(px, py) * Math.sign(py);
}

export const nut: ProductType = {
  name: 'nut',
  kind: 'object',
  description: 'steel hex nut, seen from above',
  defectKinds: ['scratch', 'chip', 'rust'],
  render(rng, size) {
    const { unit, cx, cy } = placeObject(rng, size);
    const turn = rng.uniform(0, Math.PI / 3);
    const cos = Math.cos(turn);
    const sin = Math.sin(turn);
    const apothem = size * 0.3 * rng.uniform(0.97, 1.03);
    const chamfer = apothem * 0.965;
    const bore = apothem * 0.46;
    const bevel = bore + apothem * 0.08;
    const through = bore * 0.8;
    const steel = varyColour(rng, [0.64, 0.65, 0.68], 0.06);
    const card = varyColour(rng, [0.62, 0.61, 0.58], 0.06);
    const { lamp, noise, light, parts } = studio(rng, size);
    const lampAzimuth = Math.atan2(lamp.y, lamp.x);
    const pitch = 2.3 * unit;
    const shadowX = -lamp.x * 7 * unit;
    const shadowY = -lamp.y * 7 * unit;
    const circumradius = apothem / Math.cos(Math.PI / 6);
    const hexAt = (px: number, py: number) => {
      const dx = px - cx;
      const dy = py - cy;
      // Far from the nut the exact distance does not matter, only that it is large.
      const far = Math.hypot(dx, dy) - circumradius;
      if (far > 10 * unit) return far;
      return hexagonDistance(dx * cos + dy * sin, -dx * sin + dy * cos, apothem);
    };
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const i = y * size + x;
        const px = x + 0.5;
        const py = y + 0.5;
        const shadow =
          1 - 0.45 * (1 - smoothstep(-6 * unit, 8 * unit, hexAt(px - shadowX, py - shadowY)));
        const t = (1 + 0.04 * noise.fbm(px / (6 * unit), py / (6 * unit), 2)) * shadow;
        const dx = px - cx;
        const dy = py - cy;
        const r = Math.hypot(dx, dy) || 1e-6;
        const ux = dx / r;
        const uy = dy / r;
        // Through the bore the card shows; the nut is only the ring around it.
        const coverage = clamp01(0.5 - hexAt(px, py)) * clamp01(r - through + 0.5);
        let k = 0;
        let specular = 0;
        if (coverage > 0) {
          const angle = Math.atan2(dy, dx);
          if (r < bore) {
            // Thread flanks: a helix seen end-on, brighter on the side facing the lamp.
            const thread = 0.5 + 0.5 * Math.cos((2 * Math.PI * r) / pitch + angle);
            const facing = Math.max(0, -(ux * lamp.x + uy * lamp.y));
            k = 0.12 + 0.4 * thread * (0.35 + 0.65 * facing);
          } else if (r < bevel) {
            const { diffuse } = lit(lamp, -ux * 0.9, -uy * 0.9, 20);
            k = 0.25 + 0.7 * diffuse;
          } else {
            const tilt = 0.8 * smoothstep(chamfer - 0.7, chamfer + 0.7, r);
            const { diffuse, specular: highlight } = lit(lamp, ux * tilt, uy * tilt, 25);
            // Turned metal: fine concentric tool marks, and a bow-tie sheen towards the lamp.
            const marks =
              1 +
              0.06 * noise.gradient(r / (0.9 * unit), 3.7, 21) +
              0.04 * noise.gradient(r / (3 * unit), Math.cos(angle), 22);
            const sheen = (1 - tilt) * 0.22 * Math.abs(Math.cos(angle - lampAzimuth)) ** 6;
            k = (0.28 + 0.7 * diffuse + sheen) * marks;
            specular = highlight * 0.5;
          }
        }
        put(
          parts,
          i,
          light[i]!,
          card[0] * t,
          card[1] * t,
          card[2] * t,
          steel[0] * k + specular,
          steel[1] * k + specular,
          steel[2] * k + specular,
          coverage,
        );
      }
    }
    const pickSpot = (spotRng: Rng) => {
      const a = spotRng.uniform(0, 2 * Math.PI);
      const r = spotRng.uniform(bevel + apothem * 0.06, chamfer - apothem * 0.05);
      return { x: cx + Math.cos(a) * r, y: cy + Math.sin(a) * r };
    };
    return {
      size,
      unit,
      ...parts,
      light,
      pickSpot,
      addDefect(kind: string, damage: Damage, defectRng: Rng) {
        if (kind === 'scratch') {
          scratch(damage, defectRng, {
            at: pickSpot(defectRng),
            length: unit * defectRng.uniform(40, 70),
            halfWidth: Math.max(0.6, unit * defectRng.uniform(0.8, 1.2)),
            // A bright scratch would vanish on the polished face; what shows is the dark groove.
            tone: -defectRng.uniform(0.4, 0.55),
            bend: 0.05,
            clip: true,
          });
        } else if (kind === 'chip') {
          // A corner knocked off: corners sit at the hexagon's circumradius, every 60 degrees.
          const corner = turn + defectRng.int(6) * (Math.PI / 3) + defectRng.uniform(-0.1, 0.1);
          const reach = apothem / Math.cos(Math.PI / 6) - 1.5 * unit;
          missingPiece(damage, defectRng, {
            edge: edgeAt(cx, cy, corner, reach),
            radius: unit * defectRng.uniform(11, 16),
            edgeTone: -0.5,
            edgeWidth: 2 * unit,
            // The corner itself is chamfered and dull; the bite must reach the bright face to show.
            inset: 0.3,
          });
        } else if (kind === 'rust') {
          stainOn(damage, defectRng, pickSpot, [1.05, 0.62, 0.36]);
        } else noSuchDefect('nut', kind);
      },
    } satisfies Scene;
  },
};
