import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src-main/engine/backend.js';
import type { Detector } from '../../../src-main/engine/detectors/detector.js';
import { detectorEntry, loadDetector } from '../../../src-main/engine/detectors/registry.js';
import {
  TILE_OVERLAP,
  TileLayout,
  checkTileScale,
  tileOffsets,
  tiledPatchScores,
} from '../../../src-main/engine/detectors/tiling.js';
import { createEncoder } from '../../../src-main/engine/encoders/registry.js';
import { auroc } from '../../../src-main/engine/metrics.js';
import { tempDir } from '../../fixtures/images.js';

/** Channel mean over 4 × 4 cells: a stand-in patch scorer whose map is known everywhere. */
const cellMeans = (images: tf.Tensor4D) =>
  tf.tidy(() => tf.mean(tf.avgPool(images, 4, 4, 'valid'), 3) as tf.Tensor3D);

/** Where the speck of defect image `seed` sits, in pixels of a `size` px image. */
function speckAt(seed: number, size: number): [x: number, y: number] {
  return [
    Math.round(size * (0.15 + 0.07 * (seed % 10))),
    Math.round(size * (0.2 + 0.06 * ((seed * 7) % 10))),
  ];
}

/** Fine woven texture of `size` px with varying light; a defect is a dark speck of radius 2 px. */
function weave(count: number, seed: number, size: number, speck: boolean): tf.Tensor4D {
  return tf.tidy(() => {
    const y = tf.range(0, size).reshape([size, 1, 1]);
    const x = tf.range(0, size).reshape([1, size, 1]);
    return tf.stack(
      Array.from({ length: count }, (_, i) => {
        const s = seed + i;
        const threads = tf.mul(tf.mul(tf.sin(tf.mul(x, 1.3)), tf.sin(tf.mul(y, 1.3))), 0.08);
        const noise = tf.randomUniform([size, size, 1], -0.03, 0.03, 'float32', s);
        let image = tf.add(tf.add(0.5 + 0.05 * Math.sin(s), threads), noise);
        if (speck) {
          const [cx, cy] = speckAt(s, size);
          const d2 = tf.add(tf.square(tf.sub(x, cx)), tf.square(tf.sub(y, cy)));
          image = tf.sub(image, tf.mul(tf.cast(tf.lessEqual(d2, 2), 'float32'), 0.2));
        }
        return tf.tile(tf.clipByValue(image, 0, 1), [1, 1, 3]);
      }),
    ) as tf.Tensor4D;
  });
}

describe('tiles of a large image', () => {
  beforeAll(() => initBackend());

  it('lays tiles that overlap by at least a quarter, on whole strides, the last flush with the edge', () => {
    for (const length of [448, 560, 1120, 1248]) {
      const offsets = tileOffsets(length, 224);
      expect(offsets[0]).toBe(0);
      expect(offsets.at(-1)! + 224).toBe(length);
      offsets.forEach((o, i) => {
        expect(o % 16, `offset ${o} of ${length}`).toBe(0);
        if (i > 0) expect(o - offsets[i - 1]!).toBeLessThanOrEqual(224 * (1 - TILE_OVERLAP));
        if (i > 0) expect(o).toBeGreaterThan(offsets[i - 1]!);
      });
    }
    expect(tileOffsets(448, 224)).toEqual([0, 112, 224]);
    expect(tileOffsets(1120, 224)).toEqual([0, 144, 288, 448, 592, 736, 896]);
    // The short side of a 500 × 1250 commutator at 448 px: 3 × 7 tiles.
    const layout = new TileLayout([448, 1120], 224);
    expect([layout.lefts.length, layout.tops.length, layout.count]).toEqual([3, 7, 21]);
  });

  it('scores an image no larger than a tile as one tile of its own size', () => {
    expect(tileOffsets(224, 224)).toEqual([0]);
    expect(tileOffsets(100, 224)).toEqual([0]);
    const layout = new TileLayout([160, 96], 224);
    expect(layout.tileShape).toEqual([96, 160]);
    expect(layout.count).toBe(1);
  });

  it('stitches tile maps back into the map of the whole image', async () => {
    const before = tf.memory().numTensors;
    // Two 560 × 448 images of a known pattern: cut into 224 px tiles, scored cell by cell and
    // stitched, their map is the one the whole images give, overlaps included.
    const images = tf.tidy(() => {
      const y = tf.range(0, 448).reshape([1, 448, 1, 1]);
      const x = tf.range(0, 560).reshape([1, 1, 560, 1]);
      const ramp = tf.add(tf.mul(x, 0.001), tf.sin(tf.mul(y, 0.05)));
      return tf.concat([tf.tile(ramp, [1, 1, 1, 3]), tf.tile(tf.neg(ramp), [1, 1, 1, 3])]);
    }) as tf.Tensor4D;
    const layout = new TileLayout([560, 448], 224);
    expect(layout.count).toBe(12);
    const cut = layout.cut(images, 12, 2); // the second image's first two tiles
    const second = tf.tidy(() => images.slice([1, 0, layout.lefts[1]!, 0], [1, 224, 224, 3]));
    expect(cut.shape).toEqual([2, 224, 224, 3]);
    const secondCut = cut.slice([1], [1]);
    expect(Array.from(await secondCut.data())).toEqual(Array.from(await second.data()));
    const stitched = tiledPatchScores(images, layout, cellMeans);
    const whole = cellMeans(images);
    expect(stitched.shape).toEqual([2, 112, 140]);
    const gap = tf.tidy(() => tf.max(tf.abs(tf.sub(stitched, whole))));
    expect((await gap.data())[0]).toBeLessThan(1e-5);
    tf.dispose([images, cut, secondCut, second, stitched, whole, gap]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a tile scale off the patch grid or smaller than a tile, freeing the encoder', async () => {
    expect(() => checkTileScale(450, 224)).toThrow(/multiple of 16 of at least 224; got 450/);
    expect(() => checkTileScale(192, 224)).toThrow(/at least 224/);
    expect(() => checkTileScale(448, 224)).not.toThrow();
    const before = tf.memory().numTensors;
    await expect(
      (async () =>
        detectorEntry('one-class').create(await createEncoder('mobilenetv3', { inputSize: 64 }), {
          inputSize: 64,
          tileScale: 100,
        }))(),
    ).rejects.toThrow(/tile scale/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('one-class in tiles sees a speck a few pixels wide in a large image, and reloads tiled', async () => {
    const before = tf.memory().numTensors;
    const SIZE = 192;
    const make = async (tileScale: number | null) =>
      detectorEntry('one-class').create(await createEncoder('mobilenetv3', { inputSize: 64 }), {
        inputSize: 64,
        tileScale,
      });
    const good = weave(10, 1, SIZE, false);
    const test = tf.tidy(() => tf.concat([weave(6, 100, SIZE, false), weave(6, 200, SIZE, true)]));
    const labels = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
    const resized = (images: tf.Tensor4D, detector: Detector) =>
      tf.tidy(() => {
        const side = detector.inputShape as number;
        return tf.image.resizeBilinear(images, [side, side], true);
      });

    const tiled = await make(SIZE);
    expect(tiled.inputShape).toBe(SIZE);
    const fitImages = resized(good, tiled);
    const progress: [number, number][] = [];
    await tiled.fit([{ images: fitImages }], {
      total: 10,
      onProgress: (done, total, message) =>
        message === 'extracting patch features' && progress.push([done, total]),
    });
    // Each tile is a good image of its own: 4 × 4 tiles of 64 px over 192 px.
    expect(progress.at(-1)).toEqual([160, 160]);
    const results = await tiled.score(test, { anomalyMaps: true });
    const tiledAuroc = auroc(
      results.map((r) => r.score),
      labels,
    );
    expect(tiledAuroc).toBeGreaterThanOrEqual(0.9);
    // The map covers the whole image and is hot at the speck.
    results.slice(6).forEach((result, i) => {
      const map = result.anomalyMap!;
      expect([map.width, map.height]).toEqual([SIZE, SIZE]);
      const [x, y] = speckAt(200 + i, SIZE);
      const atSpeck = map.data[y * SIZE + x]!;
      expect(map.data.filter((v) => v < atSpeck).length / map.data.length).toBeGreaterThan(0.9);
    });

    // The whole image shrunk to the tile size loses most of the speck.
    const whole = await make(null);
    const small = resized(good, whole);
    const smallTest = resized(test, whole);
    await whole.fit([{ images: small }]);
    const wholeAuroc = auroc(
      (await whole.score(smallTest)).map((r) => r.score),
      labels,
    );
    expect(tiledAuroc).toBeGreaterThan(wholeAuroc);

    // Saved with the model: an older folder (no tileScale) loads untiled, this one tiled.
    const dir = join(tempDir(), 'tiled');
    await tiled.save(dir);
    const saved = JSON.parse(readFileSync(join(dir, 'detector.json'), 'utf8')) as {
      config: { tileScale: number | null };
    };
    expect(saved.config.tileScale).toBe(SIZE);
    const reloaded = await loadDetector(dir);
    expect(reloaded.inputShape).toBe(SIZE);
    (await reloaded.score(test)).forEach((r, i) =>
      expect(r.score).toBeCloseTo(results[i]!.score, 4),
    );
    reloaded.dispose();
    tiled.dispose();
    whole.dispose();
    tf.dispose([good, test, fitImages, small, smallTest]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('stops a tiled fit between tiles when cancelled, leaking no tile', async () => {
    const before = tf.memory().numTensors;
    const detector = detectorEntry('one-class').create(
      await createEncoder('mobilenetv3', { inputSize: 64 }),
      { inputSize: 64, tileScale: 192 },
    );
    const good = weave(4, 1, 192, false);
    const cancel = new AbortController();
    const seen: number[] = [];
    await expect(
      detector.fit([{ images: good }], {
        total: 4,
        signal: cancel.signal,
        onProgress: (done) => {
          seen.push(done);
          cancel.abort();
        },
      }),
    ).rejects.toThrow(/cancelled/);
    // One pass of 16 tiles, then the cancel: not all 4 × 16 tiles.
    expect(seen).toEqual([16]);
    detector.dispose();
    good.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('zero-shot in tiles takes tiles as references and scores the speck highest', async () => {
    const before = tf.memory().numTensors;
    const SIZE = 192;
    const detector = detectorEntry('zero-shot').create(
      await createEncoder('mobilenetv3', { inputSize: 64 }),
      {
        inputSize: 64,
        tileScale: SIZE,
        references: 16,
        features: { layers: ['stride4', 'stride8'], neighbourhood: 3 },
      },
    );
    const folder = tf.tidy(() =>
      tf.concat([weave(8, 300, SIZE, false), weave(3, 400, SIZE, true)]),
    );
    await detector.fit([{ images: folder }]);
    const results = await detector.score(folder, { anomalyMaps: true });
    expect(results[0]!.anomalyMap).toMatchObject({ width: SIZE, height: SIZE });
    expect(
      auroc(
        results.map((r) => r.score),
        [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1],
      ),
    ).toBeGreaterThanOrEqual(0.9);
    detector.dispose();
    folder.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
