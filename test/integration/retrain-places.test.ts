import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src-main/engine/backend.js';
import { scanDataset } from '../../src-main/data/importers/scan.js';
import { generateDataset } from '../../src-main/data/synthetic/generate.js';
import { retrainArgs } from '../../src-main/engine/tasks/args.js';
import { fitOneClassModel } from '../../src-main/engine/tasks/retrain.js';
import { MIN_PLACE_IMAGES } from '../../src-main/engine/detectors/places.js';
import { oneClassScoring } from '../../src-main/engine/detectors/patch-features.js';
import { featuresLine, VIEWS_GAIN } from '../../src-main/shared/model-quality.js';
import { tempDir } from '../fixtures/images.js';

const ctx = { signal: new AbortController().signal, progress: () => {}, log: () => {} };

describe('retrain learns each place of a type without defect labels', () => {
  let good: string[];
  beforeAll(async () => {
    await initBackend();
    const root = tempDir();
    await generateDataset(root, { seed: 4, perType: 30, size: 64, types: ['pill'] });
    good = scanDataset(join(root, 'pill'), { layout: 'mvtec', objectType: 'pill' })
      .entries.filter((e) => e.split === 'train' && e.label === 'good')
      .map((e) => e.path);
  });

  it('checks places on held-out good images, records the check, and judges the active model without them', async () => {
    const before = tf.memory().numTensors;
    const args = (out: string, activePath: string | null) =>
      retrainArgs.parse({
        objectType: 'pill',
        fit: good.slice(12),
        validationGood: good.slice(0, 12),
        validationDefect: [],
        activePath,
        parent: null,
        out,
        inputSize: 64,
        layers: ['stride8', 'stride16'],
        defectHead: false,
        batchSize: 8,
        seed: 1,
      });
    const first = await fitOneClassModel(args(join(tempDir(), 'first'), null), ctx);
    const check = first.places!;
    expect(check).toMatchObject({ heldOutImages: 12 });
    expect(check.used).toBe(check.placedAuroc > check.auroc);
    // Scored in views where they gain enough on the same images, which the line says; each way
    // judged as the model scores in it, relative to each place where its places are kept.
    expect(check.viewed).toBe(check.viewedAuroc! >= check.viewsOff! + VIEWS_GAIN);
    expect(check.viewed ? check.viewedAuroc : check.viewsOff).toBeCloseTo(
      check.used ? check.placedAuroc : check.auroc,
      10,
    );
    const saved = JSON.parse(readFileSync(join(first.path, 'detector.json'), 'utf8')) as {
      config: { imageScoring: unknown };
      placesCheck: unknown;
    };
    expect(saved.placesCheck).toEqual(check);
    // Its image scoring follows the good images it was fitted on, no defect labels (oneClassScoring).
    expect(saved.config.imageScoring).toEqual(oneClassScoring(good.length - 12, 0));
    expect(existsSync(join(first.path, 'places.bin'))).toBe(check.used);
    // Validated as inspected: 12 good images and three painted defects in each.
    expect(first.metrics).toMatchObject({ defects: 'synthetic', goodImages: 12, defectImages: 36 });
    expect(featuresLine({ layers: first.layers, places: check })).toMatch(
      check.used ? /; scores relative to each place \(/ : /; scores as they are, not relative/,
    );
    expect(featuresLine({ layers: first.layers, places: check })).toMatch(
      check.viewed
        ? /; scores each image also mirrored and turned \(/
        : /; scores each image as it is/,
    );
    // The active model is judged on these same images without its places (learned from them).
    const second = await fitOneClassModel(args(join(tempDir(), 'second'), first.path), ctx);
    expect(second.previousAuroc).toBeCloseTo(
      first.metrics.bankAuroc ?? first.metrics.imageAuroc,
      5,
    );
    expect(first.metrics.bankAuroc !== undefined).toBe(check.used || check.viewed);
    // Warned on the bank with its places, as their check found it.
    expect(first.metrics.placesAuroc).toBe(check.used ? check.placedAuroc : undefined);
    expect(tf.memory().numTensors).toBe(before);
  }, 180_000);

  it('scores in views or not as the inspector sets them, whatever the painted defects say', async () => {
    const fitted = async (views: 'on' | 'off') =>
      (
        await fitOneClassModel(
          retrainArgs.parse({
            objectType: 'pill',
            fit: good.slice(12),
            validationGood: good.slice(0, 12),
            validationDefect: [],
            activePath: null,
            parent: null,
            out: join(tempDir(), views),
            inputSize: 64,
            layers: ['stride8', 'stride16'],
            defectHead: false,
            views,
            batchSize: 8,
            seed: 1,
          }),
          ctx,
        )
      ).places!;
    const [on, off] = [await fitted('on'), await fitted('off')];
    expect(on).toMatchObject({ viewed: true, viewsSet: 'on' });
    expect(off).toMatchObject({ viewed: false, viewsSet: 'off' });
    // Both ways are still measured, alike (the same images, painted alike), and the line says who set them.
    expect(on.viewedAuroc).toBeCloseTo(off.viewedAuroc!, 5);
    expect(on.viewsOff).toBeCloseTo(off.viewsOff!, 5);
    expect(featuresLine({ layers: ['stride8', 'stride16'], places: on })).toMatch(
      /; scores each image also mirrored and turned, set by hand \(painted-defect AUROC [01]\.\d{3} with them against [01]\.\d{3} without\)/,
    );
    expect(featuresLine({ layers: ['stride8', 'stride16'], places: off })).toMatch(
      /; scores each image as it is, not mirrored and turned, set by hand \(/,
    );
  }, 180_000);

  it('learns no places from fewer held-out images than it can check them on', async () => {
    const few = await fitOneClassModel(
      retrainArgs.parse({
        objectType: 'pill',
        fit: good.slice(MIN_PLACE_IMAGES),
        validationGood: good.slice(0, MIN_PLACE_IMAGES - 1),
        validationDefect: [],
        activePath: null,
        parent: null,
        out: join(tempDir(), 'few'),
        inputSize: 64,
        layers: ['stride8', 'stride16'],
        defectHead: false,
        batchSize: 8,
        seed: 1,
      }),
      ctx,
    );
    expect(few.places).toBeNull();
    expect(existsSync(join(few.path, 'places.bin'))).toBe(false);
  }, 180_000);
});
