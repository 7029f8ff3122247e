import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src-main/engine/backend.js';
import {
  DefectMemory,
  MEMORY_CANDIDATES,
  MEMORY_GUARD,
  chooseMemory,
  type ImagePatches,
} from '../../../src-main/engine/detectors/patchcore/defect-memory.js';
import { TOP_PATCHES } from '../../../src-main/engine/detectors/patch-features.js';

const PATCHES = 100;

/**
 * An image of PATCHES two-channel patches: the bank (at the origin, typical score 1) matches all
 * but one, which sits at `odd` and so lies its length from the bank.
 */
function image(odd: [number, number]): ImagePatches {
  const rows = new Float32Array(PATCHES * 2);
  rows.set(odd, 0);
  const distances = new Float32Array(PATCHES);
  distances[0] = Math.hypot(...odd);
  return {
    rows: tf.tensor2d(rows, [PATCHES, 2]),
    distances,
    scores: distances.slice(),
    grid: [10, 10],
  };
}

describe('defect memory', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('keeps of each defect its top patches above the best good image score, else its top patch', async () => {
    // 200 patches: the top 1 % is two; the first image has both above the cut, the second one.
    const patches = (top: [number, number]): ImagePatches => {
      const distances = new Float32Array(200).fill(0.1);
      distances.set(top, 0);
      const rows = tf.tensor2d(
        Float32Array.from({ length: 400 }, (_, i) => i),
        [200, 2],
      );
      return { rows, distances, scores: distances, grid: [10, 20] };
    };
    const images = [patches([3, 2.5]), patches([3, 1]), patches([1.5, 1])];
    const rows = DefectMemory.rowsOf(images, 2);
    const kept = await rows.array();
    rows.dispose();
    expect(kept).toEqual([
      [0, 1],
      [2, 3],
      [0, 1],
      [0, 1],
    ]);
    const good = [patches([1, 2]), patches([1.2, 0.5])];
    expect(DefectMemory.cutOf(good, TOP_PATCHES)).toBeCloseTo(1.5, 6);
    for (const i of [...images, ...good]) i.rows.dispose();
  });

  it('learns defects unlike the good images odd parts, and keeps the bank alone when they are alike', async () => {
    const before = tf.memory().numTensors;
    // Good images have a rare bright patch (1, 0) the bank never saw: it outscores every defect.
    const good = Array.from({ length: 6 }, () => image([1, 0]));
    // The defects' patch points elsewhere (0, 0.9): nearer the bank, so the bank alone ranks
    // every good image above every defect.
    const unlike = Array.from({ length: 6 }, (_, i) => image([0.02 * i, 0.9]));
    const learned = await chooseMemory(unlike, good, 1, 1, TOP_PATCHES);
    expect(learned.candidates.map(({ weight, aboveGood }) => ({ weight, aboveGood }))).toEqual(
      MEMORY_CANDIDATES,
    );
    expect(learned.candidates[0]!.validationAuroc).toBe(0);
    // A patch near a remembered defect gains weight × its distance; the good ones' odd patch is
    // farther from the defects than from the bank and gains nothing. The first weight that
    // separates them all is kept.
    expect(learned).toMatchObject({ weight: 0.5, aboveGood: false });
    expect(learned.candidates[1]!.validationAuroc).toBe(1);
    // Each defect judged by the other half's memory: 0.9 + 0.5 × (0.9 − its distance to it).
    expect(learned.outOfFold).toHaveLength(6);
    learned.outOfFold.forEach((s) => expect(s).toBeGreaterThan(1.25));

    // Defects that look like the good images' odd patch: remembering them lifts the good images
    // more than the defects, so cross-validation keeps the bank alone (weight 0 wins the tie).
    const alike = Array.from({ length: 6 }, () => image([0.9, 0]));
    const kept = await chooseMemory(alike, good, 1, 1, TOP_PATCHES);
    expect(kept.weight).toBe(0);
    expect(kept.outOfFold).toEqual(alike.map(() => expect.closeTo(0.9, 5)));

    // A memory that would hide defects it never learned is refused. Half the good images have a
    // patch (0, 0.8) near the defects' (0, 1): a memory strong enough to lift the defects above
    // the other half's far patch (2, 0) lifts them above the defects as the bank scores them.
    const mixed = [
      ...Array.from({ length: 3 }, () => image([2, 0])),
      ...Array.from({ length: 3 }, () => image([0, 0.8])),
    ];
    const near = unlike.map((_, i) => image([0.02 * i, 1]));
    const risky = await chooseMemory(near, mixed, 1, 1, TOP_PATCHES);
    const bank = risky.candidates[0]!;
    const tempting = risky.candidates.find((c) => c.validationAuroc > bank.validationAuroc)!;
    expect(tempting.validationAuroc).toBe(1);
    expect(tempting.unlearnedAuroc).toBeLessThan(bank.unlearnedAuroc - MEMORY_GUARD);
    expect(risky).toMatchObject({ weight: 0, aboveGood: false });

    // The memory's term on patches: weight × max(0, distance − distance to the nearest defect).
    const memory = new DefectMemory(DefectMemory.rowsOf(unlike, 0), 2);
    expect(memory.size).toBe(6);
    const termOf = tf.tidy(() =>
      memory.term(tf.tensor2d([0, 0.9, 1, 0, 0, 0], [3, 2]), tf.tensor1d([0.9, 1, 0]), 1),
    );
    const term = await termOf.array();
    termOf.dispose();
    expect(term[0]).toBeCloseTo(2 * 0.9, 4);
    expect(term[1]).toBe(0);
    expect(term[2]).toBe(0);
    memory.dispose();
    for (const i of [...good, ...unlike, ...alike, ...mixed, ...near]) i.rows.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
