// Seeded randomness, one generator for the whole program: SimCLR views, reservoir sampling and
// coresets in the engine, and the synthetic generator, where every image draws from its own
// stream keyed by seed, object type and sample index (so one image never depends on how many
// others were made).

/** A 32-bit seed derived from any mix of numbers and names (a string hash, cyrb-style). */
export function seedFor(...parts: (string | number)[]): number {
  const key = parts.join('/');
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h1 ^ h2) >>> 0;
}

/**
 * A small seeded generator (mulberry32). Its whole state is one 32-bit number, which a training
 * checkpoint can store; `Rng.derive` gives independent streams for (seed, epoch, step) so a
 * resumed run draws exactly what an uninterrupted one would.
 */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A generator whose stream depends only on `seed` and `keys` (e.g. a step number). */
  static derive(seed: number, ...keys: number[]): Rng {
    let h = mix32(seed >>> 0);
    for (const key of keys) h = mix32((h ^ mix32(key >>> 0)) + 0x9e3779b9);
    return new Rng(h);
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  /**
   * Reservoir sampling (Algorithm R): the slot item number `seen` (counting from 0) takes in a
   * uniform sample of `capacity` items, or -1 when it is not kept.
   */
  reservoirSlot(seen: number, capacity: number): number {
    if (seen < capacity) return seen;
    const slot = this.int(seen + 1);
    return slot < capacity ? slot : -1;
  }

  /** Shuffles in place (Fisher–Yates) and returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }

  /** -1 or +1. */
  sign(): number {
    return this.next() < 0.5 ? -1 : 1;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('Rng.pick needs a non-empty list');
    return item;
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A fresh 32-bit seed for a sub-generator (noise fields, sub-streams). */
  seed(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }

  getState(): number {
    return this.state;
  }

  setState(state: number): void {
    this.state = state >>> 0;
  }
}

function mix32(x: number): number {
  // murmur3's finaliser: spreads nearby seeds (step 7, step 8) into unrelated states.
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
