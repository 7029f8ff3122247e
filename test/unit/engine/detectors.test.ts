import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src-main/engine/backend.js';
import {
  EVIDENCE,
  EvidenceClassifier,
  EvidenceHead,
} from '../../../src-main/engine/detectors/classifier/evidence-classifier.js';
import type { FitBatch } from '../../../src-main/engine/detectors/detector.js';
import { greedyCoreset } from '../../../src-main/engine/detectors/patchcore/coreset.js';
import { PatchSample } from '../../../src-main/engine/detectors/patchcore/patch-sample.js';
import { MIN_PLACE_IMAGES } from '../../../src-main/engine/detectors/places.js';
import {
  scoresWithBank,
  withoutLearned,
  type PatchcoreConfig,
  type PatchcoreDetector,
} from '../../../src-main/engine/detectors/patchcore/patchcore.js';
import { MIN_HEAD_AUROC, VIEWS_GAIN } from '../../../src-main/shared/model-quality.js';
import { defaultDefectHeadConfig } from '../../../src-main/engine/detectors/patchcore/defect-head.js';
import { paintDefects } from '../../../src-main/engine/synthetic-defects.js';
import { Rng } from '../../../src-main/shared/random.js';
import {
  SMOOTHED_TOP_PATCHES,
  TOP_PATCHES,
  nearestDistances,
  patchFeatures,
} from '../../../src-main/engine/detectors/patch-features.js';
import { detectorEntry, loadDetector } from '../../../src-main/engine/detectors/registry.js';
import {
  zeroShotFeatures,
  type ZeroShotDetector,
} from '../../../src-main/engine/detectors/zero-shot/mutual-scoring.js';
import type { Encoder, FeatureName } from '../../../src-main/engine/encoders/encoder.js';
import { createEncoder } from '../../../src-main/engine/encoders/registry.js';
import { auroc } from '../../../src-main/engine/metrics.js';
import { tempDir } from '../../fixtures/images.js';
import { largestDifference } from '../../fixtures/numeric.js';
import { generateDataset } from '../../../src-main/data/synthetic/generate.js';
import { scanDataset } from '../../../src-main/data/importers/scan.js';
import { decodedBatches } from '../../../src-main/engine/decoded-batches.js';

const SIZE = 64;

/** Where the blot of defect image `seed` sits, as fractions of the side. */
function blotCentre(seed: number): [number, number] {
  return [0.3 + (0.4 * ((seed * 37) % 10)) / 10, 0.3 + (0.4 * ((seed * 53) % 10)) / 10];
}

/**
 * A brushed-metal-like surface with lighting that varies; defects are a small dark blot (`blot`
 * the darkening at its centre; a negative one lightens).
 */
function surfaces(count: number, seed: number, defect: boolean, blot = 0.45): tf.Tensor4D {
  return tf.tidy(() => {
    const images: tf.Tensor3D[] = [];
    for (let i = 0; i < count; i++) {
      const s = seed + i;
      const y = tf.linspace(0, 1, SIZE).reshape([SIZE, 1, 1]);
      const x = tf.linspace(0, 1, SIZE).reshape([1, SIZE, 1]);
      const stripes = tf.sin(tf.mul(tf.add(x, tf.mul(y, 0.1)), 40 + (s % 3))).mul(0.05);
      const light = tf.add(0.5 + 0.05 * Math.sin(s), tf.mul(x, 0.1 * Math.cos(s)));
      const noise = tf.randomUniform([SIZE, SIZE, 1], -0.03, 0.03, 'float32', s);
      let image = tf.add(tf.add(light, stripes), noise);
      if (defect) {
        const [cx, cy] = blotCentre(s);
        const spot = tf.exp(
          tf.neg(tf.add(tf.square(tf.sub(x, cx)), tf.square(tf.sub(y, cy))).div(0.004)),
        );
        image = tf.sub(image, tf.mul(spot, blot));
      }
      images.push(tf.tile(tf.clipByValue(image, 0, 1), [1, 1, 3]) as tf.Tensor3D);
    }
    return tf.stack(images) as tf.Tensor4D;
  });
}

/**
 * `surfaces` with a faint blot (when `defect`) and a label in the top left corner that differs
 * from part to part: a place that always looks new to the other images.
 */
function labelled(count: number, seed: number, defect: boolean): tf.Tensor4D {
  return tf.tidy(() => {
    const parts = surfaces(count, seed, defect, 0.2);
    const noise = tf.randomUniform([count, 20, 20, 1], -0.5, 0.5, 'float32', seed);
    const corner = tf.pad(tf.tile(noise, [1, 1, 1, 3]), [
      [0, 0],
      [0, SIZE - 20],
      [0, SIZE - 20],
      [0, 0],
    ]);
    return tf.clipByValue(tf.add(parts, corner), 0, 1) as tf.Tensor4D;
  });
}

/** Stripes running one diagonal ("/"), or its mirror image ("\\") when `mirrored`. */
function stripes(count: number, seed: number, mirrored: boolean, width = SIZE): tf.Tensor4D {
  return tf.tidy(() => {
    const y = tf.linspace(0, 1, SIZE).reshape([SIZE, 1, 1]);
    const x = tf.linspace(0, width / SIZE, width).reshape([1, width, 1]);
    const images = Array.from({ length: count }, (_, i) => {
      const phase = tf
        .add(mirrored ? tf.neg(x) : x, y)
        .mul(25)
        .add(i);
      const noise = tf.randomUniform([SIZE, width, 1], -0.02, 0.02, 'float32', seed + i);
      return tf.tile(tf.add(tf.sin(phase).mul(0.3).add(0.5), noise), [1, 1, 3]);
    });
    return tf.stack(images) as tf.Tensor4D;
  });
}

/** Pixel colours averaged over each stride's cells as "features": a transparent encoder. */
class PixelEncoder implements Encoder {
  readonly info = {
    kind: 'pixels',
    inputSize: SIZE,
    channels: { stride4: 3, stride8: 3, stride16: 3 },
    embeddingSize: 3,
  };
  encode(images: tf.Tensor4D) {
    return tf.tidy(() => ({
      features: {
        stride4: tf.avgPool(images, 4, 4, 'valid'),
        stride8: tf.avgPool(images, 8, 8, 'valid'),
        stride16: tf.avgPool(images, 16, 16, 'valid'),
      },
      embedding: tf.mean(images, [1, 2]) as tf.Tensor2D,
    }));
  }
  trainableVariables() {
    return [];
  }
  save(): Promise<void> {
    return Promise.reject(new Error('not saved in this test'));
  }
  dispose() {}
}

/** A one-class detector on MobileNetV3 at SIZE, with the detector's own defaults otherwise. */
async function oneClass(): Promise<PatchcoreDetector> {
  return (await detectorEntry('one-class').create(
    await createEncoder('mobilenetv3', { inputSize: SIZE }),
    { inputSize: SIZE },
  )) as PatchcoreDetector;
}

function batches(images: tf.Tensor4D): FitBatch[] {
  return [{ images }];
}

describe('detectors', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('greedy coreset keeps far-apart points first and returns everything when asked for more', async () => {
    // Two tight clusters and one outlier: a 3-point coreset must pick one from each.
    const points = tf.tensor2d([
      [0, 0],
      [0.01, 0],
      [0, 0.01],
      [5, 5],
      [5.01, 5],
      [100, 100],
    ]);
    const chosen = await greedyCoreset(points, { size: 3, seed: 0 });
    const groups = chosen.map((i) => (i < 3 ? 'a' : i < 5 ? 'b' : 'c')).sort();
    expect(groups).toEqual(['a', 'b', 'c']);
    expect(await greedyCoreset(points, { size: 10 })).toHaveLength(6);
    points.dispose();
    // Many patches: the search runs on a sample of candidates but returns indices of all rows.
    const many = tf.randomUniform([1000, 4], 0, 1, 'float32', 3) as tf.Tensor2D;
    const picked = await greedyCoreset(many, { size: 10, maxCandidates: 100, seed: 2 });
    expect(new Set(picked).size).toBe(10);
    expect(picked.every((i) => Number.isInteger(i) && i >= 0 && i < 1000)).toBe(true);
    // The same seed, the default 0 included, picks the same patches every time (its random
    // projection once came from tf.randomNormal, which takes a seed of 0 as none).
    const wide = tf.randomUniform([500, 64], 0, 1, 'float32', 4) as tf.Tensor2D;
    for (const seed of [0, 7]) {
      const first = await greedyCoreset(wide, { size: 50, seed });
      expect(await greedyCoreset(wide, { size: 50, seed })).toEqual(first);
    }
    expect(await greedyCoreset(wide, { size: 50, seed: 7 })).not.toEqual(
      await greedyCoreset(wide, { size: 50, seed: 0 }),
    );
    tf.dispose([many, wide]);
  });

  it('greedy coreset picks what the plain farthest-point loop picks, whatever the channel count', async () => {
    // The search adds eight products a pass; a row's tail past the last eight must still count.
    for (const channels of [5, 12, 19]) {
      const points = tf.randomUniform([400, channels], 0, 1, 'float32', channels) as tf.Tensor2D;
      const x = (await points.data()) as Float32Array;
      const reference: number[] = [];
      const minDistance = new Float32Array(400).fill(Infinity);
      for (let next = 0; reference.length < 40;) {
        reference.push(next);
        let farthest = 0;
        for (let i = 0; i < 400; i++) {
          let d = 0;
          for (let k = 0; k < channels; k++)
            d += (x[i * channels + k]! - x[next * channels + k]!) ** 2;
          minDistance[i] = Math.min(minDistance[i]!, d);
          if (minDistance[i]! > minDistance[farthest]!) farthest = i;
        }
        next = farthest;
      }
      expect(await greedyCoreset(points, { size: 40, seed: 0 })).toEqual(reference);
      points.dispose();
    }
  });

  it('one-class: fitted on good surfaces, flags a dark blot it has never seen, and its map points at it', async () => {
    const before = tf.memory().numTensors;
    const detector = detectorEntry('one-class').create(
      await createEncoder('mobilenetv3', { inputSize: SIZE }),
      { inputSize: SIZE },
    );
    const good = surfaces(12, 1, false);
    await detector.fit(batches(good));
    const testGood = surfaces(6, 100, false);
    const testBad = surfaces(6, 200, true);
    const goodScores = await detector.score(testGood);
    const badScores = await detector.score(testBad, { anomalyMaps: true });
    const scores = [...goodScores, ...badScores].map((r) => r.score);
    expect(auroc(scores, [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1])).toBeGreaterThanOrEqual(0.9);

    // Each map is hot where the blot is: the blot centre ranks in the map's top fifth.
    badScores.forEach((result, i) => {
      const map = result.anomalyMap!;
      expect([map.width, map.height]).toEqual([SIZE, SIZE]);
      const [cx, cy] = blotCentre(200 + i);
      const atBlot = map.data[Math.round(cy * SIZE) * SIZE + Math.round(cx * SIZE)]!;
      const rank = map.data.filter((v) => v < atBlot).length / map.data.length;
      expect(rank, `image ${i}`).toBeGreaterThan(0.8);
    });

    // Save and reload: same scores.
    const dir = join(tempDir(), 'one-class');
    await detector.save(dir);
    const reloaded = await loadDetector(dir);
    const again = await reloaded.score(testBad);
    again.forEach((r, i) => expect(r.score).toBeCloseTo(badScores[i]!.score, 4));
    reloaded.dispose();
    detector.dispose();
    tf.dispose([good, testGood, testBad]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('one-class judged relative to each image finds a light stain on a dark shot among lighter good shots', async () => {
    const before = tf.memory().numTensors;
    // Grey shots whose exposure ranges from 0.3 to 0.7; a stain is a soft-edged disc that lifts
    // a 0.35 shot to 0.55. Pixel colours as features make the point exact: every stained
    // patch, edge included, has the colour of some good shot, and only relative to its own image
    // is it out of place.
    const shots = (count: number, seed: number, stained: boolean) =>
      tf.tidy(() => {
        const y = tf.linspace(0, 1, SIZE).reshape([1, SIZE, 1, 1]);
        const x = tf.linspace(0, 1, SIZE).reshape([1, 1, SIZE, 1]);
        return tf.concat(
          Array.from({ length: count }, (_, i) => {
            const s = seed + i;
            const level = stained ? 0.35 : 0.3 + 0.4 * ((s * 0.618034) % 1);
            // Light falls off across every shot, so each covers a band of greys, not one.
            const noise = tf.add(
              tf.mul(tf.sub(x, 0.5), 0.1),
              tf.randomUniform([1, SIZE, SIZE, 3], -0.02, 0.02, 'float32', s),
            );
            if (!stained) return tf.add(level, noise);
            const [cx, cy] = blotCentre(s);
            const r = tf.sqrt(tf.add(tf.square(tf.sub(x, cx)), tf.square(tf.sub(y, cy))));
            return tf.add(tf.add(level, tf.mul(tf.sigmoid(tf.sub(0.15, r).div(0.03)), 0.2)), noise);
          }),
        ) as tf.Tensor4D;
      });
    const good = shots(32, 1, false);
    const test = tf.tidy(() => tf.concat([shots(8, 100, false), shots(8, 200, true)]));
    const labels = [...Array<number>(8).fill(0), ...Array<number>(8).fill(1)];
    const aurocOf = async (centredScales: number[]) => {
      const detector = detectorEntry('one-class').create(new PixelEncoder(), {
        inputSize: SIZE,
        features: { layers: ['stride4'], neighbourhood: 3 },
        centredScales,
      });
      await detector.fit(batches(good));
      const scores = (await detector.score(test)).map((r) => r.score);
      detector.dispose();
      return auroc(scores, labels);
    };
    const [raw, centred] = [await aurocOf([]), await aurocOf([1])];
    expect(centred).toBe(1);
    expect(raw).toBeLessThan(0.8);
    tf.dispose([good, test]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('one-class at two scales: one bank per scale, scores relative to each, and reloads', async () => {
    const before = tf.memory().numTensors;
    const make = async (
      scales: number[],
      centredScales: number[] = [],
      config: Partial<PatchcoreConfig> = {},
    ) =>
      detectorEntry('one-class').create(await createEncoder('mobilenetv3', { inputSize: SIZE }), {
        inputSize: SIZE,
        scales,
        centredScales,
        ...config,
      });
    // A refused config frees the encoder the detector was to own (the tensor count at the end).
    await expect(make([1, 0.25])).rejects.toThrow(/at least 32 px/);
    await expect(make([1], [0.5])).rejects.toThrow(
      /Centred scales must be among the scales \(1\); got 0.5/,
    );
    const detector = await make([1, 0.5]);
    expect((detector as PatchcoreDetector).config.imageScoring).toEqual(SMOOTHED_TOP_PATCHES);
    const good = surfaces(12, 1, false);
    await detector.fit(batches(good));
    const test = tf.tidy(() => tf.concat([surfaces(6, 100, false), surfaces(6, 200, true)]));
    const results = await detector.score(test, { anomalyMaps: true });
    const scores = results.map((r) => r.score);
    expect(auroc(scores, [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1])).toBeGreaterThanOrEqual(0.9);
    // Relative to the typical good score at each scale, good images score near 1.
    const goodMedian = [...scores.slice(0, 6)].sort((a, b) => a - b)[3]!;
    expect(goodMedian).toBeGreaterThan(0.5);
    expect(goodMedian).toBeLessThan(2);
    expect(results[0]!.anomalyMap).toMatchObject({ width: SIZE, height: SIZE });

    const dir = join(tempDir(), 'one-class-two-scales');
    await detector.save(dir);
    const saved = JSON.parse(readFileSync(join(dir, 'detector.json'), 'utf8')) as {
      banks: { typical: number }[];
    };
    expect(saved.banks).toHaveLength(2);
    const reloaded = await loadDetector(dir);
    const again = await reloaded.score(test);
    again.forEach((r, i) => expect(r.score).toBeCloseTo(scores[i]!, 4));
    reloaded.dispose();
    // A damaged bank file is refused with what is wrong with it, never read as other numbers.
    const bank1 = join(dir, 'bank-1.bin');
    writeFileSync(bank1, readFileSync(bank1).subarray(4));
    await expect(loadDetector(dir)).rejects.toThrow(/bank-1\.bin holds \d+ bytes; expected \d+/);
    detector.dispose();

    // A single-scale folder from before banks per scale ("bank", no typical score) and before
    // the image scoring was recorded still loads, with its scores undivided and taken as they
    // were (the top 1 % of patches as they are), which its threshold was set on.
    const single = await make([1], [], { imageScoring: TOP_PATCHES });
    await single.fit(batches(good));
    const singleScores = (await single.score(test)).map((r) => r.score);
    const oldDir = join(tempDir(), 'one-class-old');
    await single.save(oldDir);
    const config = JSON.parse(readFileSync(join(oldDir, 'detector.json'), 'utf8')) as {
      config: Partial<PatchcoreConfig>;
      banks: { size: number; channels: number; typical: number }[];
      bank?: { size: number; channels: number };
    };
    const [{ size, channels, typical }] = config.banks as [(typeof config.banks)[0]];
    delete config.config.imageScoring;
    writeFileSync(
      join(oldDir, 'detector.json'),
      JSON.stringify({ ...config, banks: undefined, bank: { size, channels } }),
    );
    const old = await loadDetector(oldDir);
    expect((old as PatchcoreDetector).config.imageScoring).toEqual(TOP_PATCHES);
    const oldScores = (await old.score(test)).map((r) => r.score);
    oldScores.forEach((v, i) => expect(v).toBeCloseTo(singleScores[i]! * typical, 3));
    old.dispose();
    single.dispose();
    tf.dispose([good, test]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('one-class with a defect head: learns painted defects from the good images alone, adds to the distances, and reloads', async () => {
    const before = tf.memory().numTensors;
    const make = async (head: boolean) =>
      detectorEntry('one-class').create(await createEncoder('mobilenetv3', { inputSize: SIZE }), {
        inputSize: SIZE,
        ...(head ? { head: { ...defaultDefectHeadConfig, steps: 80 } } : {}),
      });
    // 32 good images: every tenth is held out to check and weigh the head (3 of them).
    const good = surfaces(32, 1, false);
    const [plain, learned] = [await make(false), await make(true)];
    await plain.fit(batches(good));
    const messages = new Set<string>();
    await learned.fit(batches(good), { onProgress: (_d, _t, m) => messages.add(m ?? '') });
    expect(messages).toContain('training the defect head');
    // Checked on the one image in ten held out of its training: it passed and is used.
    const check = (learned as PatchcoreDetector).headCheck!;
    expect(check).toMatchObject({ used: true, heldOutImages: 3 });
    expect(check.heldOutAuroc).toBeGreaterThanOrEqual(MIN_HEAD_AUROC);
    expect(check.weight).toBeGreaterThan(0);

    const testGood = surfaces(8, 100, false);
    const painted = paintDefects(testGood, new Rng(5));
    const test = tf.tidy(() => tf.concat([testGood, painted, surfaces(8, 200, true)]));
    const labels = [...Array(8).fill(0), ...Array(16).fill(1)];
    const [without, withHead] = [
      (await plain.score(test)).map((r) => r.score),
      (await learned.score(test)).map((r) => r.score),
    ];
    // The same bank (same seed) plus the head's P(defect) ≥ 0 on every patch.
    withHead.forEach((s, i) => expect(s).toBeGreaterThanOrEqual(without[i]! - 1e-5));
    expect(auroc(withHead, labels)).toBeGreaterThanOrEqual(0.9);
    // Without the head (how validation on painted defects judges it): the bank's own scores.
    const bankOnly = await (learned as PatchcoreDetector).without('head', () =>
      learned.score(test),
    );
    bankOnly.forEach((r, i) => expect(r.score).toBeCloseTo(without[i]!, 5));
    // Both from one pass of the encoder (how retrain judges a candidate), the very same numbers.
    const both = await scoresWithBank(learned, test);
    expect(both.model).toEqual(withHead);
    expect(both.bank).toEqual(bankOnly.map((r) => r.score));
    expect((await scoresWithBank(plain, test)).bank).toBeNull();
    // It learned what painted defects look like: they gain more than good images do.
    const gain = withHead.map((s, i) => s - without[i]!);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(gain.slice(8, 16))).toBeGreaterThan(mean(gain.slice(0, 8)));

    const dir = join(tempDir(), 'one-class-head');
    await learned.save(dir);
    const reloaded = await loadDetector(dir);
    (await reloaded.score(test)).forEach((r, i) => expect(r.score).toBeCloseTo(withHead[i]!, 4));
    reloaded.dispose();
    const headFile = join(dir, 'head.bin');
    writeFileSync(headFile, readFileSync(headFile).subarray(8));
    await expect(loadDetector(dir)).rejects.toThrow(/head\.bin holds \d+ bytes; expected \d+/);
    // Fewer than 30 images leave too few to check and weigh the head on: left out, scores unchanged.
    const few = tf.tidy(() => good.slice([0], [20]));
    const [plainFew, unchecked] = [await make(false), await make(true)];
    await plainFew.fit(batches(few));
    await unchecked.fit(batches(few));
    expect((unchecked as PatchcoreDetector).headCheck).toMatchObject({
      heldOutImages: 2,
      used: false,
    });
    const [a, b] = [await plainFew.score(test), await unchecked.score(test)];
    b.forEach((r, i) => expect(r.score).toBeCloseTo(a[i]!.score, 5));
    // Places are checked on the bank alone, read in the same pass as the model's own maps: the
    // check is the plain model's, the out-of-fold scores are the headed model's. Held-out parts
    // with defects of their own, so that painted ones are not all told apart.
    const held = surfaces(12, 400, true);
    const [placedPlain, placedHeaded] = [
      (await (plain as PatchcoreDetector).learnPlaces(batches(held), 1))!,
      (await (learned as PatchcoreDetector).learnPlaces(batches(held), 1))!,
    ];
    expect(placedHeaded.check.auroc).toBeCloseTo(placedPlain.check.auroc, 5);
    expect(placedHeaded.check.placedAuroc).toBeCloseTo(placedPlain.check.placedAuroc, 5);
    expect(placedHeaded.good).not.toEqual(placedPlain.good);
    // With places learned, from two passes, as score gives them with and without the head.
    const placed = await scoresWithBank(learned, test);
    expect(placed.model).toEqual((await learned.score(test)).map((r) => r.score));
    expect(placed.bank).toEqual(
      (await withoutLearned(learned, ['head'], () => learned.score(test)))!.map((r) => r.score),
    );
    tf.dispose([good, few, testGood, painted, test, held]);
    [plain, learned, plainFew, unchecked].forEach((d) => d.dispose());
    expect(tf.memory().numTensors).toBe(before);
  });

  it('one-class learns reviewed defects: a memory of their patches, chosen by cross-validation, saved and reloaded', async () => {
    const before = tf.memory().numTensors;
    const detector = await oneClass();
    const fit = surfaces(16, 1, false);
    await detector.fit(batches(fit));
    // The held-out good parts have a bright spot the bank never saw (a normal variation); the
    // reviewed defects a faint dark one, which the bank alone ranks below the bright spots.
    const heldGood = surfaces(8, 300, true, -0.9);
    const reviewed = surfaces(8, 400, true);
    const validation = tf.concat([heldGood, reviewed]);
    const without = await detector.score(validation);
    const labels = [...Array(8).fill(0), ...Array(8).fill(1)];
    expect(
      auroc(
        without.map((r) => r.score),
        labels,
      ),
    ).toBeLessThan(0.5);
    // Fewer than two a fold: nothing to cross-validate, nothing learned.
    const three = tf.tidy(() => reviewed.slice([0], [3]));
    await expect(detector.learnDefects(batches(three), batches(heldGood))).resolves.toBeNull();
    const learned = (await detector.learnDefects(batches(reviewed), batches(heldGood)))!;
    expect(learned.check).toMatchObject({ defectImages: 8, goodImages: 8 });
    expect(learned.check.weight).toBeGreaterThan(0);
    const bankAlone = learned.check.candidates.find((c) => c.weight === 0)!.validationAuroc;
    expect(Math.max(...learned.check.candidates.map((c) => c.validationAuroc))).toBeGreaterThan(
      bankAlone + 0.5,
    );
    expect(learned.outOfFold).toHaveLength(8);

    // New parts of both kinds: the remembered dark spots now outrank the bright good ones.
    const test = tf.tidy(() => tf.concat([surfaces(8, 500, true, -0.9), surfaces(8, 600, true)]));
    const bank = (await detector.without('memory', () => detector.score(test))).map((r) => r.score);
    // Left out for the work alone, also when nested; a part the detector lacks gives null.
    const nested = await withoutLearned(detector, ['memory'], () =>
      detector.without('memory', () => detector.score(test)),
    );
    nested!.forEach((r, i) => expect(r.score).toBeCloseTo(bank[i]!, 5));
    await expect(
      withoutLearned(detector, ['head'], () => detector.score(test)),
    ).resolves.toBeNull();
    const withMemory = (await detector.score(test)).map((r) => r.score);
    withMemory.forEach((s, i) => expect(s).toBeGreaterThanOrEqual(bank[i]! - 1e-5));
    expect(auroc(bank, labels)).toBeLessThan(0.2);
    expect(auroc(withMemory, labels)).toBeGreaterThan(0.8);

    const dir = join(tempDir(), 'one-class-memory');
    await detector.save(dir);
    const reloaded = (await loadDetector(dir)) as PatchcoreDetector;
    expect(reloaded.memoryCheck).toEqual(learned.check);
    (await reloaded.score(test)).forEach((r, i) => expect(r.score).toBeCloseTo(withMemory[i]!, 4));
    reloaded.dispose();
    // Fitted again, the memory measured against the old bank is forgotten.
    await detector.fit(batches(fit));
    expect(detector.memoryCheck).toBeNull();
    (await detector.score(test)).forEach((r, i) => expect(r.score).toBeCloseTo(bank[i]!, 4));
    detector.dispose();
    tf.dispose([fit, heldGood, reviewed, validation, three, test]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('one-class learns each place: a corner that always looks new stops hiding a faint blot, saved and reloaded', async () => {
    const before = tf.memory().numTensors;
    const detector = await oneClass();
    // Every part has a label in its top left corner that differs from part to part, so the bank
    // never knows it; the defects are a faint blot elsewhere.
    const fit = labelled(24, 1, false);
    await detector.fit(batches(fit));
    const held = labelled(16, 100, false);
    const test = tf.tidy(() => tf.concat([labelled(8, 200, false), labelled(8, 300, true)]));
    const labels = [...Array(8).fill(0), ...Array(8).fill(1)];
    const asTheyAre = (await detector.score(test)).map((r) => r.score);

    // Fewer than MIN_PLACE_IMAGES held-out images: nothing learned.
    const few = tf.tidy(() => held.slice([0], [MIN_PLACE_IMAGES - 1]));
    await expect(detector.learnPlaces(batches(few), 1)).resolves.toBeNull();
    const learned = (await detector.learnPlaces(batches(held), 1))!;
    expect(learned.check).toMatchObject({ heldOutImages: 16, used: true });
    expect(learned.check.placedAuroc).toBeGreaterThan(learned.check.auroc);
    expect(learned.good).toHaveLength(16);
    expect(learned.painted).toHaveLength(48);
    expect(detector.has('places')).toBe(true);
    const byPlace = (await detector.score(test)).map((r) => r.score);
    expect(auroc(byPlace, labels)).toBeGreaterThan(auroc(asTheyAre, labels) + 0.2);
    expect(auroc(byPlace, labels)).toBeGreaterThan(0.9);
    const without = await withoutLearned(detector, ['places', 'head'], () => detector.score(test));
    without!.forEach((r, i) => expect(r.score).toBeCloseTo(asTheyAre[i]!, 5));

    const dir = join(tempDir(), 'one-class-places');
    await detector.save(dir);
    const reloaded = (await loadDetector(dir)) as PatchcoreDetector;
    expect(reloaded.placesCheck).toEqual(learned.check);
    (await reloaded.score(test)).forEach((r, i) => expect(r.score).toBeCloseTo(byPlace[i]!, 4));
    reloaded.dispose();
    // Fitted again, the places of the old bank are gone.
    await detector.fit(batches(fit));
    expect(detector.has('places')).toBe(false);
    expect(detector.placesCheck).toBeNull();
    tf.dispose([fit, held, few, test]);
    detector.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('one-class scores each image also mirrored and turned where the painted defects say so, saved and reloaded', async () => {
    const before = tf.memory().numTensors;
    const detector = await oneClass();
    const fit = surfaces(24, 1, false);
    await detector.fit(batches(fit));
    const held = surfaces(16, 100, false);
    const learned = (await detector.learnPlaces(batches(held), 1))!;
    // Both ways measured on the same held-out images, the views kept only for a clear gain.
    const { viewedAuroc, viewsOff, viewed } = learned.check;
    expect(viewedAuroc).toBeGreaterThan(0.5);
    expect(viewsOff).toBeGreaterThan(0.5);
    expect(viewed).toBe(viewedAuroc! >= viewsOff! + VIEWS_GAIN);
    expect(learned.good).toHaveLength(16);
    expect(learned.painted).toHaveLength(48);

    // A model that scores the views (as saved when they are kept) gives an image, its mirror
    // image, flip and half turn the same score: the four are one another's views. Without views
    // (the model as fitted) they differ. Places tie scores to the image's places: none here.
    const test = tf.tidy(() => tf.concat([surfaces(2, 200, false), surfaces(2, 300, true)]));
    const turned = (images: tf.Tensor4D) =>
      [images, tf.reverse(images, 2), tf.reverse(images, 1), tf.reverse(images, [1, 2])].map(
        (t) => t as tf.Tensor4D,
      );
    const scoresOf = async (d: PatchcoreDetector) => {
      const views = tf.tidy(() => turned(test));
      const scores: number[][] = [];
      for (const v of views) scores.push((await d.score(v)).map((r) => r.score));
      tf.dispose(views.slice(1));
      return scores;
    };
    const dir = join(tempDir(), 'one-class-views');
    detector.forgetPlaces();
    await detector.save(dir);
    const file = join(dir, 'detector.json');
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(
      file,
      JSON.stringify({ ...saved, placesCheck: { ...learned.check, viewed: true } }),
    );
    const inViews = (await loadDetector(dir)) as PatchcoreDetector;
    expect(inViews.placesCheck?.viewed).toBe(true);
    const [asIs, ...others] = await scoresOf(inViews);
    for (const other of others) other.forEach((s, i) => expect(s).toBeCloseTo(asIs![i]!, 4));
    // Each view's map is brought back onto the image: the blot is hotter than where the mirror
    // image, flip or half turn would put it.
    const defective = tf.tidy(() => test.slice([2], [2]));
    const maps = await inViews.score(defective, { anomalyMaps: true });
    defective.dispose();
    maps.forEach((result, i) => {
      const map = result.anomalyMap!;
      const at = (x: number, y: number) =>
        map.data[Math.round(y * (SIZE - 1)) * SIZE + Math.round(x * (SIZE - 1))]!;
      const [cx, cy] = blotCentre(300 + i);
      for (const [x, y] of [
        [1 - cx, cy],
        [cx, 1 - cy],
        [1 - cx, 1 - cy],
      ] as const)
        expect(at(cx, cy), `image ${i}`).toBeGreaterThan(at(x, y));
    });
    const plain = await scoresOf(detector);
    const gap = Math.max(
      ...plain.slice(1).flatMap((o) => o.map((s, i) => Math.abs(s - plain[0]![i]!))),
    );
    expect(gap).toBeGreaterThan(1e-3);
    // Fitted again, what learnPlaces learned is forgotten: the views too.
    await inViews.fit(batches(fit));
    expect(inViews.placesCheck).toBeNull();
    const refitted = await scoresOf(inViews);
    refitted[0]!.forEach((s, i) => expect(s).toBeCloseTo(plain[0]![i]!, 4));
    inViews.dispose();
    detector.dispose();
    tf.dispose([fit, held, test]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('one-class with few good images: the bank also learns their mirror images and turns', async () => {
    const before = tf.memory().numTensors;
    const make = async (augment: boolean, aspect = 1) =>
      detectorEntry('one-class').create(await createEncoder('mobilenetv3', { inputSize: SIZE }), {
        inputSize: SIZE,
        aspect,
        augment,
        coresetRatio: 1,
        maxBank: 1e6,
      }) as PatchcoreDetector;
    const good = stripes(4, 1, false);
    const [plain, augmented] = [await make(false), await make(true)];
    await plain.fit(batches(good));
    await augmented.fit(batches(good));
    // Every patch kept: the eight symmetries of a square image, each a view of its own.
    expect(augmented.bankSize).toBe(8 * plain.bankSize);
    const mean = async (d: PatchcoreDetector, images: tf.Tensor4D) =>
      (await d.score(images)).reduce((a, r) => a + r.score, 0) / images.shape[0];
    const mirrored = stripes(4, 50, true);
    const same = stripes(4, 60, false);
    // A mirrored part is new to the plain bank, not to the augmented one.
    expect(await mean(augmented, mirrored)).toBeLessThan(0.5 * (await mean(plain, mirrored)));
    expect(await mean(augmented, same)).toBeLessThanOrEqual((await mean(plain, same)) + 1e-5);
    // Not square: mirror images and the half turn only (a quarter turn changes the shape).
    const wide = stripes(2, 1, false, 2 * SIZE);
    const [plainWide, augmentedWide] = [await make(false, 2), await make(true, 2)];
    await plainWide.fit(batches(wide));
    await augmentedWide.fit(batches(wide));
    expect(augmentedWide.bankSize).toBe(4 * plainWide.bankSize);
    tf.dispose([good, mirrored, same, wide]);
    [plain, augmented, plainWide, augmentedWide].forEach((d) => d.dispose());
    expect(tf.memory().numTensors).toBe(before);
  });

  it('zero-shot: in an unlabeled folder of mostly good surfaces, the blotted ones score highest', async () => {
    const before = tf.memory().numTensors;
    const detector = detectorEntry('zero-shot').create(
      await createEncoder('mobilenetv3', { inputSize: SIZE }),
      {
        inputSize: SIZE,
        references: 8,
      },
    );
    const folder = tf.tidy(() => tf.concat([surfaces(10, 300, false), surfaces(3, 400, true)]));
    const labels = [...Array(10).fill(0), 1, 1, 1];
    await detector.fit(batches(folder));
    const scores = (await detector.score(folder)).map((r) => r.score);
    expect(auroc(scores, labels)).toBeGreaterThanOrEqual(0.9);

    const dir = join(tempDir(), 'zero-shot');
    await detector.save(dir);
    const reloaded = await loadDetector(dir);
    const again = (await reloaded.score(folder)).map((r) => r.score);
    again.forEach((score, i) => expect(score).toBeCloseTo(scores[i]!, 4));
    reloaded.dispose();
    detector.dispose();
    folder.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('zero-shot learns each place from its references: a corner that always looks new stops hiding faint blots', async () => {
    const before = tf.memory().numTensors;
    // As the one-class places test: every part has a label in its top left corner that differs
    // from part to part; a few parts of the folder have a faint blot elsewhere.
    const folder = tf.tidy(() => tf.concat([labelled(26, 2000, false), labelled(4, 2100, true)]));
    const labels = [...Array(26).fill(0), ...Array(4).fill(1)];
    const create = async (references: number) =>
      detectorEntry('zero-shot').create(await createEncoder('mobilenetv3', { inputSize: SIZE }), {
        inputSize: SIZE,
        references,
      }) as ZeroShotDetector;
    // Fewer references than MIN_PLACE_IMAGES: no places, and the corner outscores the blots.
    const few = await create(MIN_PLACE_IMAGES - 1);
    await few.fit(batches(folder));
    expect(few.placesCheck).toBeNull();
    const asTheyAre = auroc(
      (await few.score(folder)).map((r) => r.score),
      labels,
    );
    const detector = await create(20);
    await detector.fit(batches(folder));
    expect(detector.placesCheck).toMatchObject({ heldOutImages: 20, used: true });
    expect(detector.placesCheck!.placedAuroc).toBeGreaterThan(detector.placesCheck!.auroc);
    const scores = (await detector.score(folder)).map((r) => r.score);
    expect(auroc(scores, labels)).toBeGreaterThan(asTheyAre + 0.1);
    expect(auroc(scores, labels)).toBeGreaterThan(0.9);

    const dir = join(tempDir(), 'zero-shot-places');
    await detector.save(dir);
    const reloaded = (await loadDetector(dir)) as ZeroShotDetector;
    expect(reloaded.placesCheck).toEqual(detector.placesCheck);
    (await reloaded.score(folder)).forEach((r, i) => expect(r.score).toBeCloseTo(scores[i]!, 4));
    reloaded.dispose();
    // References taken again (as the classifier takes them), the old places are gone.
    (await detector.fitWithScores(batches(folder))).dispose();
    expect(detector.placesCheck).toBeNull();
    for (const d of [few, detector]) d.dispose();
    folder.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('one-class fitting keeps a bounded, uniform sample of patches however many images come', async () => {
    const before = tf.memory().numTensors;
    const sample = new PatchSample(0, 1000);
    // 40 batches of 4 images × 100 patches × 2 channels; channel 0 holds the batch number.
    for (let b = 0; b < 40; b++) {
      const features = tf.tidy(() =>
        tf.stack([tf.fill([4, 100], b), tf.randomUniform([4, 100], 0, 1, 'float32', b)], 2),
      ) as tf.Tensor3D;
      await sample.add(features);
      features.dispose();
    }
    expect(sample.patchesSeen).toBe(16000);
    expect(sample.images).toHaveLength(32);
    const rows = sample.rowsTensor();
    expect(rows.shape).toEqual([1000, 2]);
    const batchOf = Array.from((await rows.data()) as Float32Array).filter((_, i) => i % 2 === 0);
    rows.dispose();
    // Uniform over the 40 batches: each holds 1/40 of the patches, so about 25 rows each, and
    // the last batches are as present as the first.
    const early = batchOf.filter((b) => b < 20).length;
    expect(early).toBeGreaterThan(400);
    expect(early).toBeLessThan(600);
    sample.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('zero-shot leaves the scored image out of its own references, also after reloading', async () => {
    const before = tf.memory().numTensors;
    // 9 references with one of them the scored image, and 8 without it, both average the
    // closest 1 and 4 of 8 others: with the image left out, the two scores agree. Fewer than
    // MIN_PLACE_IMAGES, so neither learns places, which would judge each by other statistics.
    // Stride 4 + 8, so each 64 px reference keeps 26 patches (stride 8 + 16 would keep 6).
    const config = {
      inputSize: SIZE,
      references: MIN_PLACE_IMAGES - 1,
      features: { layers: ['stride4', 'stride8'] as FeatureName[], neighbourhood: 3 },
    };
    const create = async () =>
      detectorEntry('zero-shot').create(
        await createEncoder('mobilenetv3', { inputSize: SIZE }),
        config,
      );
    const folder = tf.tidy(() => tf.concat([surfaces(8, 1100, false), surfaces(1, 1200, true)]));
    const image = folder.slice(8, 1);
    const others = folder.slice(0, 8);
    const withIt = await create();
    await withIt.fit(batches(folder));
    const without = await create();
    await without.fit(batches(others));
    const [a] = await withIt.score(image);
    const [b] = await without.score(image);
    // Not to the digit: each reference's coreset can pick a few different patches from one run
    // to the next. Counting the image as its own reference would lower its score by a quarter.
    expect(Math.abs(a!.score - b!.score) / b!.score).toBeLessThan(0.05);

    // A folder saved before references were coresets: every patch kept, no fingerprints file.
    const full = detectorEntry('zero-shot').create(
      await createEncoder('mobilenetv3', { inputSize: SIZE }),
      { ...config, referenceCoreset: 1 },
    );
    await full.fit(batches(folder));
    const [c] = await full.score(image);
    const dir = join(tempDir(), 'zero-shot-old');
    await full.save(dir);
    const prints = join(dir, 'fingerprints.bin');
    writeFileSync(prints, readFileSync(prints).subarray(8));
    await expect(loadDetector(dir)).rejects.toThrow(/fingerprints\.bin holds .* damaged/);
    rmSync(prints);
    const old = await loadDetector(dir);
    const [d] = await old.score(image);
    expect(d!.score).toBeCloseTo(c!.score, 3);
    for (const detector of [withIt, without, full, old]) detector.dispose();
    tf.dispose([folder, image, others]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('zero-shot takes stride-16 maps patch by patch and finer maps with their neighbourhood', async () => {
    expect(zeroShotFeatures(['stride8', 'stride16mid']).neighbourhood).toEqual([3, 1]);
    expect(zeroShotFeatures(['stride4', 'stride8']).neighbourhood).toEqual([3, 3]);
    const before = tf.memory().numTensors;
    const encoder = await createEncoder('mobilenetv3', { inputSize: SIZE });
    const folder = surfaces(2, 1300, true);
    const layers: FeatureName[] = ['stride8', 'stride16mid'];
    const [mixed, pooled, single] = [zeroShotFeatures(layers).neighbourhood, 3, 1].map(
      (neighbourhood) => patchFeatures(encoder, folder, { layers, neighbourhood }),
    );
    // MobileNetV3's stride-8 map has 32 channels, its middle stride-16 block 64.
    expect(mixed!.shape).toEqual([2, SIZE / 8, SIZE / 8, 96]);
    // The largest difference between two feature sets' channels from … from + size.
    const gap = async (a: tf.Tensor4D, b: tf.Tensor4D, from: number, size: number) => {
      const parts = [a, b].map((t) => t.slice([0, 0, 0, from], [-1, -1, -1, size]));
      try {
        return await largestDifference(parts[0]!, parts[1]!);
      } finally {
        tf.dispose(parts);
      }
    };
    expect(await gap(mixed!, pooled!, 0, 32)).toBe(0);
    expect(await gap(mixed!, single!, 32, 64)).toBe(0);
    expect(await gap(mixed!, single!, 0, 32)).toBeGreaterThan(0.01);
    expect(await gap(mixed!, pooled!, 32, 64)).toBeGreaterThan(0.01);
    tf.dispose([folder, mixed!, pooled!, single!]);
    encoder.dispose();
    // An encoder without a middle stride-16 block gives its last; asked for one, it says so.
    const resnet = detectorEntry('zero-shot').create(
      await createEncoder('resnet', { inputSize: SIZE, seed: 1 }),
      { inputSize: SIZE },
    ) as ZeroShotDetector;
    expect(resnet.config.features).toEqual(zeroShotFeatures(['stride8', 'stride16']));
    resnet.dispose();
    const asked = { inputSize: SIZE, features: zeroShotFeatures(['stride8', 'stride16mid']) };
    const resnetEncoder = await createEncoder('resnet', { inputSize: SIZE, seed: 1 });
    expect(() => detectorEntry('zero-shot').create(resnetEncoder, asked)).toThrow(
      /resnet encoder has no stride16mid feature map/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it('zero-shot folders saved with one closest fraction score as they did when saved', async () => {
    const before = tf.memory().numTensors;
    const folder = tf.tidy(() => tf.concat([surfaces(8, 1400, false), surfaces(2, 1500, true)]));
    const create = async (closestFractions?: number[]) =>
      detectorEntry('zero-shot').create(await createEncoder('mobilenetv3', { inputSize: SIZE }), {
        inputSize: SIZE,
        references: MIN_PLACE_IMAGES - 1,
        ...(closestFractions ? { closestFractions } : {}),
      });
    const [one, both] = [await create([0.3]), await create()];
    await one.fit(batches(folder));
    await both.fit(batches(folder));
    const scores = (await one.score(folder)).map((r) => r.score);
    const bothScores = (await both.score(folder)).map((r) => r.score);
    expect(Math.max(...scores.map((v, i) => Math.abs(v - bothScores[i]!)))).toBeGreaterThan(1e-3);
    // As a folder saved before the fractions: `closestFraction`, no `closestFractions`.
    const dir = join(tempDir(), 'zero-shot-one-fraction');
    await one.save(dir);
    const file = join(dir, 'detector.json');
    const saved = JSON.parse(readFileSync(file, 'utf8')) as {
      config: { closestFraction?: number; closestFractions?: number[] };
    };
    delete saved.config.closestFractions;
    saved.config.closestFraction = 0.3;
    writeFileSync(file, JSON.stringify(saved));
    const old = await loadDetector(dir);
    (await old.score(folder)).forEach((r, i) => expect(r.score).toBeCloseTo(scores[i]!, 4));
    await expect(create([0])).rejects.toThrow(/closest fractions must be in \(0, 1\]/);
    for (const detector of [one, both, old]) detector.dispose();
    folder.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('zero-shot without fitting scores a batch against itself, and refuses a lone image', async () => {
    const before = tf.memory().numTensors;
    const detector = detectorEntry('zero-shot').create(
      await createEncoder('mobilenetv3', { inputSize: SIZE }),
      { inputSize: SIZE },
    );
    const folder = tf.tidy(() => tf.concat([surfaces(7, 500, false), surfaces(1, 600, true)]));
    const scores = (await detector.score(folder)).map((r) => r.score);
    expect(scores.indexOf(Math.max(...scores))).toBe(7);
    const lone = folder.slice(0, 1);
    await expect(detector.score(lone)).rejects.toThrow(/fit on the folder first/);
    tf.dispose([folder, lone]);
    detector.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('evidence classifier: a head trained on one surface judges another it never saw, and reloads', async () => {
    const before = tf.memory().numTensors;
    const config = { inputSize: SIZE, references: 8 };
    // Training type: the surfaces as drawn. Unseen type: inverted and turned a quarter, so its
    // defects are bright blots on vertical stripes.
    const seen = tf.tidy(() => tf.concat([surfaces(10, 700, false), surfaces(4, 800, true)]));
    const unseen = tf.tidy(() =>
      tf.sub(
        1,
        tf.concat([surfaces(10, 900, false), surfaces(3, 1000, true)]).transpose([0, 2, 1, 3]),
      ),
    ) as tf.Tensor4D;
    const seenLabels = [...Array(10).fill(false), ...Array(4).fill(true)];
    const unseenLabels = [...Array(10).fill(0), 1, 1, 1];

    const gatherer = EvidenceClassifier.create(
      await createEncoder('mobilenetv3', { inputSize: SIZE }),
      undefined,
      config,
    );
    await expect(gatherer.evidence(seen)).rejects.toThrow(/Fit the classifier/);
    await gatherer.fit(batches(seen));
    const evidence = await gatherer.evidence(seen);
    gatherer.dispose();
    expect(evidence[0]).toHaveLength(EVIDENCE.length);
    const head = await EvidenceHead.train(
      evidence.map((e, i) => ({ evidence: e, defect: seenLabels[i]! })),
      { seed: 3 },
    );

    const detector = EvidenceClassifier.create(
      await createEncoder('mobilenetv3', { inputSize: SIZE }),
      head,
      config,
    );
    await detector.fit(batches(unseen));
    const results = await detector.score(unseen, { anomalyMaps: true });
    const p = results.map((r) => r.score);
    for (const v of p) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    expect(auroc(p, unseenLabels)).toBeGreaterThanOrEqual(0.9);
    expect(results[0]!.anomalyMap).toMatchObject({ width: SIZE, height: SIZE });

    const dir = join(tempDir(), 'evidence-classifier');
    await detector.save(dir);
    const reloaded = await EvidenceClassifier.load(dir);
    const again = (await reloaded.score(unseen)).map((r) => r.score);
    again.forEach((score, i) => expect(score).toBeCloseTo(p[i]!, 4));
    reloaded.dispose();
    detector.dispose();
    tf.dispose([seen, unseen]);
    expect(tf.memory().numTensors).toBe(before);
    await expect(EvidenceHead.train([{ evidence: [0, 0, 0], defect: false }])).rejects.toThrow(
      /both good and defect/,
    );
  });

  it('refuses an unknown detector and an unfitted one-class score with clear messages', async () => {
    expect(() => detectorEntry('magic')).toThrow(/Unknown detector 'magic'/);
    const detector = detectorEntry('one-class').create(
      await createEncoder('mobilenetv3', { inputSize: SIZE }),
      {},
    );
    const image = tf.zeros([1, SIZE, SIZE, 3]) as tf.Tensor4D;
    await expect(detector.score(image)).rejects.toThrow(/not fitted/);
    await expect(loadDetector(tempDir())).rejects.toThrow(/not a saved detector/);
    image.dispose();
    detector.dispose();
  });

  it('classifier: trains a head on labeled files, scores P(defect) and reloads to the same scores', async () => {
    const root = tempDir();
    await generateDataset(root, { seed: 9, perType: 8, size: 64, types: ['pill'] });
    const entries = scanDataset(join(root, 'pill'), { layout: 'mvtec' }).entries;
    const labelOf = new Map(entries.map((e) => [e.path, e.label === 'defect' ? 1 : 0]));
    const before = tf.memory().numTensors;
    const detector = detectorEntry('classifier').create(
      await createEncoder('mobilenetv3', { inputSize: SIZE }),
      {
        inputSize: SIZE,
        epochs: 2,
        batchSize: 8,
      },
    );
    const labeled = async function* () {
      for await (const batch of decodedBatches(
        entries.map((e) => e.path),
        SIZE,
        { batchSize: 8 },
      )) {
        yield { ...batch, labels: batch.paths.map((p) => labelOf.get(p)!) };
      }
    };
    await detector.fit(labeled());
    const images = surfaces(3, 700, false);
    const scores = (await detector.score(images)).map((r) => r.score);
    expect(scores.every((p) => p >= 0 && p <= 1)).toBe(true);
    const dir = join(tempDir(), 'classifier');
    await detector.save(dir);
    const reloaded = await loadDetector(dir);
    (await reloaded.score(images)).forEach((r, i) => expect(r.score).toBeCloseTo(scores[i]!, 5));
    await expect(detector.fit([{ images }])).rejects.toThrow(/paths and labels/);
    reloaded.dispose();
    detector.dispose();
    images.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('nearestDistances', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it.each([
    // Twice the 64 MB block in bank columns: two column chunks.
    [4096, 8192],
    // More query rows than one block holds at the smallest chunk: two row blocks × two chunks.
    [70000, 512],
  ])(
    'equals brute force for %i queries against %i bank patches, split into blocks',
    async (n, m) => {
      const c = 4;
      const start = tf.memory().numTensors;
      const queries = tf.randomUniform([n, c], -1, 1, 'float32', 1) as tf.Tensor2D;
      const bank = tf.randomUniform([m, c], -1, 1, 'float32', 2) as tf.Tensor2D;
      const bankT = bank.transpose<tf.Tensor2D>();
      const norms = tf.tidy(() => tf.sum<tf.Tensor1D>(tf.square(bank), 1));
      const result = nearestDistances(queries, bankT, norms);
      const got = await result.data();
      const q = await queries.data();
      const b = await bank.data();
      for (let i = 0; i < n; i += 97 + Math.floor(n / 200)) {
        let best = Infinity;
        for (let j = 0; j < m; j++) {
          let d = 0;
          for (let k = 0; k < c; k++) d += (q[i * c + k]! - b[j * c + k]!) ** 2;
          best = Math.min(best, d);
        }
        expect(got[i]!).toBeCloseTo(best, 4);
      }
      tf.dispose([queries, bank, bankT, norms, result]);
      expect(tf.memory().numTensors).toBe(start);
    },
  );
});
