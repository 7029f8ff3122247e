// Procedural noise for textures and materials: gradient noise, fractal sums of it (fBm) and
// cellular (Worley) noise, all seeded so the same seed draws the same surface.
import { Rng } from '../../shared/random.js';

const GRADIENTS_X = new Float64Array(16);
const GRADIENTS_Y = new Float64Array(16);
for (let i = 0; i < 16; i++) {
  GRADIENTS_X[i] = Math.cos((i * Math.PI) / 8);
  GRADIENTS_Y[i] = Math.sin((i * Math.PI) / 8);
}

function fade(t: number): number {
  return t * t * t * (t * (t * 6 - 15) + 10);
}

// Each fBm octave is turned by this angle so the lattice of one octave does not line up with
// the next; aligned lattices show as faint horizontal and vertical streaks.
const OCTAVE_COS = Math.cos(0.61);
const OCTAVE_SIN = Math.sin(0.61);

export class Noise {
  // Classic Perlin permutation, shuffled from the seed and doubled so lookups need no wrap.
  // The lattice repeats every 256 units, far more than any image spans.
  private readonly perm = new Uint8Array(512);

  constructor(seed: number) {
    const rng = new Rng(seed);
    for (let i = 0; i < 256; i++) this.perm[i] = i;
    for (let i = 255; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      const t = this.perm[i]!;
      this.perm[i] = this.perm[j]!;
      this.perm[j] = t;
    }
    for (let i = 0; i < 256; i++) this.perm[256 + i] = this.perm[i]!;
  }

  private hash(ix: number, iy: number): number {
    return this.perm[this.perm[ix & 255]! + (iy & 255)]!;
  }

  /**
   * Gradient (Perlin-style) noise in about [-1, 1], one feature per unit. `layer` picks an
   * independent-looking field from the same seed.
   */
  gradient(x: number, y: number, layer = 0): number {
    const ix = Math.floor(x);
    const iy = Math.floor(y);
    const fx = x - ix;
    const fy = y - iy;
    const lx = ix + Math.imul(layer, 59);
    const ly = iy + Math.imul(layer, 137);
    const g00 = this.hash(lx, ly) & 15;
    const g10 = this.hash(lx + 1, ly) & 15;
    const g01 = this.hash(lx, ly + 1) & 15;
    const g11 = this.hash(lx + 1, ly + 1) & 15;
    const n00 = GRADIENTS_X[g00]! * fx + GRADIENTS_Y[g00]! * fy;
    const n10 = GRADIENTS_X[g10]! * (fx - 1) + GRADIENTS_Y[g10]! * fy;
    const n01 = GRADIENTS_X[g01]! * fx + GRADIENTS_Y[g01]! * (fy - 1);
    const n11 = GRADIENTS_X[g11]! * (fx - 1) + GRADIENTS_Y[g11]! * (fy - 1);
    const u = fade(fx);
    const v = fade(fy);
    const nx0 = n00 + (n10 - n00) * u;
    const nx1 = n01 + (n11 - n01) * u;
    return (nx0 + (nx1 - nx0) * v) * 1.45;
  }

  /** Fractal sum of `octaves` gradient-noise layers, normalised to about [-1, 1]. */
  fbm(x: number, y: number, octaves: number, lacunarity = 2, gain = 0.5): number {
    let sum = 0;
    let amplitude = 1;
    let norm = 0;
    let px = x;
    let py = y;
    for (let o = 0; o < octaves; o++) {
      sum += amplitude * this.gradient(px, py, o * 7);
      norm += amplitude;
      amplitude *= gain;
      const rx = (px * OCTAVE_COS - py * OCTAVE_SIN) * lacunarity + 17.3;
      const ry = (px * OCTAVE_SIN + py * OCTAVE_COS) * lacunarity + 5.9;
      px = rx;
      py = ry;
    }
    return sum / norm;
  }

  /**
   * Worley noise on a jittered grid with one feature point per unit cell: writes the distances to
   * the nearest (`out[0]`) and second-nearest (`out[1]`) feature points.
   */
  cellular(x: number, y: number, out: Float64Array, layer = 0): void {
    const ix = Math.floor(x);
    const iy = Math.floor(y);
    const lx = ix + Math.imul(layer, 59) + 83;
    const ly = iy + Math.imul(layer, 137) + 29;
    let f1 = Infinity;
    let f2 = Infinity;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const h = this.hash(lx + dx, ly + dy);
        // Two more lookups give the feature point's offset inside its cell.
        const fx = ix + dx + (this.perm[h + 17]! + 0.5) / 256 - x;
        const fy = iy + dy + (this.perm[h + 101]! + 0.5) / 256 - y;
        const d = fx * fx + fy * fy;
        if (d < f1) {
          f2 = f1;
          f1 = d;
        } else if (d < f2) {
          f2 = d;
        }
      }
    }
    out[0] = Math.sqrt(f1);
    out[1] = Math.sqrt(f2);
  }
}
