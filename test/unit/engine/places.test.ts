import { describe, expect, it } from 'vitest';
import {
  SPREAD_FLOOR,
  choosePlaces,
  placeStats,
  relative,
  robustPlaceStats,
} from '../../../src-main/engine/detectors/places.js';
import { TOP_PATCHES } from '../../../src-main/engine/detectors/patch-features.js';
import { Rng } from '../../../src-main/shared/random.js';

const PLACES = 100;
const GRID: [number, number] = [10, 10];

/** Good patch maps: every place about 1 ± 0.1, place 0 (`loud`) anything from 0 to `loudness`. */
function goodMaps(count: number, rng: Rng, loudness: number): Float32Array[] {
  return Array.from({ length: count }, () =>
    Float32Array.from({ length: PLACES }, (_, j) =>
      j === 0 ? loudness * rng.next() : 1 + 0.2 * (rng.next() - 0.5),
    ),
  );
}

/** Each good map with `per` defects added, each `lift` at a place `where` picks. */
function paintedMaps(good: Float32Array[], per: number, lift: number, where: (rng: Rng) => number) {
  const rng = new Rng(7);
  return good.flatMap((map) =>
    Array.from({ length: per }, () => {
      const painted = Float32Array.from(map);
      painted[where(rng)]! += lift;
      return painted;
    }),
  );
}

describe('places', () => {
  it('measures each place: its mean, and its spread above a floor of the mean spread', () => {
    const stats = placeStats([Float32Array.of(1, 0, 5), Float32Array.of(3, 0, 5)]);
    expect(Array.from(stats.centre)).toEqual([2, 0, 5]);
    // Spreads 1, 0, 0: the floor is SPREAD_FLOOR × their mean (1/3).
    const floor = SPREAD_FLOOR / 3;
    expect(stats.divisor[0]).toBeCloseTo(1 + floor, 6);
    expect(stats.divisor[1]).toBeCloseTo(floor, 6);
    expect(Array.from(relative(Float32Array.of(3, 0, 5), stats))[0]).toBeCloseTo(
      1 / (1 + floor),
      5,
    );
  });

  it('keeps places where a loud place hides the defects, each image judged by the other half', () => {
    const rng = new Rng(1);
    const good = goodMaps(20, rng, 4);
    // Small defects anywhere but the loud place: as they are, the loud place outscores them.
    const painted = paintedMaps(good, 3, 0.8, (r) => 1 + Math.floor(r.next() * (PLACES - 1)));
    const chosen = choosePlaces(
      { check: good, checkPainted: painted, good, painted },
      3,
      GRID,
      TOP_PATCHES,
    );
    expect(chosen.check.heldOutImages).toBe(20);
    expect(chosen.check.auroc).toBeLessThan(0.8);
    expect(chosen.check.placedAuroc).toBeGreaterThan(0.95);
    expect(chosen.check.used).toBe(true);
    expect(chosen.stats!.centre[0]).toBeGreaterThan(1);
    expect(chosen.good).toHaveLength(20);
    expect(chosen.painted).toHaveLength(60);
    // Out of fold: a good image's score is not its own place's mean, so not all about zero.
    expect(Math.max(...chosen.good)).toBeGreaterThan(0.5);
  });

  it('leaves places out where defects sit where the good parts vary most', () => {
    const rng = new Rng(2);
    const good = goodMaps(20, rng, 2);
    const painted = paintedMaps(good, 3, 1.5, () => 0);
    const chosen = choosePlaces(
      { check: good, checkPainted: painted, good, painted },
      3,
      GRID,
      TOP_PATCHES,
    );
    expect(chosen.check.placedAuroc).toBeLessThan(chosen.check.auroc);
    expect(chosen.check.used).toBe(false);
    expect(chosen.stats).toBeNull();
  });

  it('measures each place robustly where some maps are defective: median and median deviation', () => {
    // Seven maps about 1 at both places, two with a defect (9) at place 0.
    const values = [0.9, 1.1, 1.0, 0.95, 1.05, 9, 9];
    const maps = values.map((v) => Float32Array.of(v, 1 + (v - 1) / 10));
    const stats = robustPlaceStats(maps);
    expect(stats.centre[0]).toBeCloseTo(1.05, 6);
    expect(stats.centre[1]).toBeCloseTo(1.005, 6);
    // Deviations from 1.05 at place 0: 0.15, 0.05, 0.05, 0.1, 0, 7.95, 7.95; their median 0.1.
    const spread0 = 1.4826 * 0.1;
    const spread1 = 1.4826 * 0.01;
    const floor = (SPREAD_FLOOR * (spread0 + spread1)) / 2;
    expect(stats.divisor[0]).toBeCloseTo(spread0 + floor, 5);
    expect(stats.divisor[1]).toBeCloseTo(spread1 + floor, 5);
    // The mean and standard deviation are pulled far off by the two defects.
    const plain = placeStats(maps);
    expect(plain.centre[0]).toBeGreaterThan(3);
    expect(plain.divisor[0]).toBeGreaterThan(3);
  });
});
