import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src-main/engine/backend.js';
import { PAINTED_DEFECTS, paintDefects } from '../../../src-main/engine/synthetic-defects.js';
import { Rng } from '../../../src-main/shared/random.js';

describe('defects painted into good images', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('darkens one spot, curve or region per image, the kinds taking turns, reproducibly', async () => {
    const before = tf.memory().numTensors;
    const images = tf.fill([6, 48, 64, 3], 0.8) as tf.Tensor4D;
    const painted = paintDefects(images, new Rng(3));
    const again = paintDefects(images, new Rng(3));
    expect(painted.shape).toEqual([6, 48, 64, 3]);
    const values = (await painted.data()) as Float32Array;
    expect(Array.from(values)).toEqual(Array.from(await again.data()));
    // Per image, the share of pixels made darker; none is lighter.
    const darker = Array.from({ length: 6 }, (_, i) => {
      let count = 0;
      for (let p = 0; p < 48 * 64; p++) {
        const v = values[(i * 48 * 64 + p) * 3]!;
        expect(v).toBeLessThanOrEqual(0.8 + 1e-6);
        if (v < 0.79) count++;
      }
      return count / (48 * 64);
    });
    expect(darker.every((share) => share > 0)).toBe(true);
    // The kinds cycle: spot, line, region.
    expect(PAINTED_DEFECTS).toEqual(['spot', 'line', 'region']);
    // With this seed: a spot covers the least, a curve more, a soft region the most.
    for (const i of [0, 3]) {
      expect(darker[i + 1]!).toBeGreaterThan(2 * darker[i]!);
      expect(darker[i + 2]!).toBeGreaterThan(2 * darker[i + 1]!);
    }
    // A curve a pixel or so wide: under a tenth of the image.
    expect(darker[1]!).toBeLessThan(0.1);
    tf.dispose([images, painted, again]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('starts the turns where it is told, so batches continue the cycle', async () => {
    const images = tf.fill([1, 32, 32, 3], 0.8) as tf.Tensor4D;
    const region = paintDefects(images, new Rng(1), 2);
    const spot = paintDefects(images, new Rng(1), 0);
    const share = async (t: tf.Tensor) =>
      Array.from((await t.data()) as Float32Array).filter((v) => v < 0.79).length;
    expect(await share(region)).toBeGreaterThan(await share(spot));
    tf.dispose([images, region, spot]);
  });
});
