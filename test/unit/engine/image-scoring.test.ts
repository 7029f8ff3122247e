import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src-main/engine/backend.js';
import {
  SMOOTHED_TOP_PATCHES,
  TOP_PATCHES,
  imageScoreOf,
  imageScores,
  oneClassScoring,
  type ImageScoring,
} from '../../../src-main/engine/detectors/patch-features.js';
import { Rng } from '../../../src-main/shared/random.js';
import { FEW_SHOT_IMAGES } from '../../../src-main/shared/model-quality.js';

async function tensorScore(map: Float32Array, [h, w]: [number, number], scoring: ImageScoring) {
  const score = tf.tidy(() => imageScores(tf.tensor3d(map, [1, h, w]), scoring));
  const [value] = await score.data();
  score.dispose();
  return value!;
}

describe('image scoring', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('takes the same image score in JS as on tensors, smoothed or not, on any grid', async () => {
    const rng = new Rng(3);
    for (const grid of [
      [20, 20],
      [7, 13],
      [28, 70],
    ] as [number, number][]) {
      const map = Float32Array.from({ length: grid[0] * grid[1] }, () => rng.next());
      for (const scoring of [TOP_PATCHES, SMOOTHED_TOP_PATCHES])
        expect(imageScoreOf(map, grid, scoring)).toBeCloseTo(
          await tensorScore(map, grid, scoring),
          5,
        );
    }
  });

  it('averages each patch with its neighbours inside the map, then takes the top share', async () => {
    // 10 × 10 zeros but a corner of 4 and a patch of 4.5 inside. As they are, the top 1 % (one
    // patch) is 4.5. Over 3 × 3 places inside the map the corner is 4 / 4 = 1 (padding counted,
    // it would be 4 / 9) and the inside patch 4.5 / 9: the top 1 % is 1, the top 2 % (two
    // patches) also takes the corner's neighbour, 4 / 6.
    const map = new Float32Array(100);
    map[0] = 4;
    map[55] = 4.5;
    const grid: [number, number] = [10, 10];
    expect(imageScoreOf(map, grid, TOP_PATCHES)).toBe(4.5);
    for (const [scoring, expected] of [
      [{ smooth: 3, topFraction: 0.01 }, 1],
      [SMOOTHED_TOP_PATCHES, (1 + 4 / 6) / 2],
    ] as [ImageScoring, number][]) {
      expect(imageScoreOf(map, grid, scoring)).toBeCloseTo(expected, 6);
      expect(await tensorScore(map, grid, scoring)).toBeCloseTo(expected, 6);
    }
    // The map is left as it was.
    expect(map[55]).toBe(4.5);
  });

  it('smooths a one-class score from enough good images and no defect labels, not otherwise', () => {
    expect(oneClassScoring(FEW_SHOT_IMAGES, 0)).toEqual(SMOOTHED_TOP_PATCHES);
    expect(oneClassScoring(FEW_SHOT_IMAGES - 1, 0)).toEqual(TOP_PATCHES);
    expect(oneClassScoring(10, 0)).toEqual(TOP_PATCHES);
    expect(oneClassScoring(200, 4)).toEqual(TOP_PATCHES);
  });
});
