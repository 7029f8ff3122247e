import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src-main/cli/main.js';
import { importDataset } from '../../src-main/data/importers/import.js';
import { generateDataset } from '../../src-main/data/synthetic/generate.js';
import { initBackend } from '../../src-main/engine/backend.js';
import { retrainObjectType } from '../../src-main/inspection/retrain.js';
import { scoreForType } from '../../src-main/inspection/scoring.js';
import { openStore, type Store } from '../../src-main/store/store.js';
import { EngineClient } from '../../src-main/jobs/engine-client.js';
import { tempDir } from '../fixtures/images.js';
import { TOP_PATCHES } from '../../src-main/engine/detectors/patch-features.js';
import { atThreshold } from '../../src-main/engine/metrics.js';
import { DETAIL_LEVELS, LAYER_CANDIDATES, type LayerChoiceDto } from '../../src-main/shared/dto.js';
import {
  featuresLine,
  modelExpectation,
  typeDefectHead,
  typeViews,
} from '../../src-main/shared/model-quality.js';

const SIZE = 128;

/** A retrain fits every candidate and judges each on painted and labeled defects. */
const RETRAIN_TIMEOUT = 180_000;

/**
 * The model's stored validation scores (its page's curves) are its validation: one per image, on
 * the 0..1 scale where 0.5 is its threshold, so they flag what its figures say they flag.
 */
function expectCurves(store: Store, modelId: number, metrics: Record<string, unknown>): void {
  const validation = store.models.validation(modelId)!;
  expect(validation.defects).toBe(metrics.defects);
  const goods = validation.labels.filter((l) => l === 0).length;
  expect([goods, validation.labels.length - goods]).toEqual([
    metrics.goodImages,
    metrics.defectImages,
  ]);
  expect(validation.scores.every((s) => s >= 0 && s <= 1)).toBe(true);
  const at = atThreshold(validation.scores, validation.labels, 0.5);
  expect(at.falseAlarmRate).toBeCloseTo(metrics.falseAlarmRate as number, 10);
  expect(at.recall).toBeCloseTo(metrics.recall as number, 10);
}

describe('one-click retrain, model versions and scoring', () => {
  let root: string;
  let store: Store;
  // Retraining runs in the engine host, as it does in the app.
  const engine = new EngineClient();
  afterAll(() => engine.close());
  beforeAll(async () => {
    await initBackend();
    root = tempDir();
    await generateDataset(root, { seed: 5, perType: 14, size: 128, types: ['pill', 'nut'] });
    store = openStore(tempDir());
    await importDataset(store, root);
  });

  it(
    'builds, validates and activates a first model from good images, and scores never-seen defects above good parts',
    async () => {
      const before = tf.memory().numTensors;
      const result = await retrainObjectType(
        { store, engine },
        { objectType: 'nut', inputSize: SIZE, falseAlarmRate: 0.05 },
      );
      expect(result).toMatchObject({ activated: true, reason: 'first model of this type' });
      expect(result.metrics.defects).toBe('labels');
      // The threshold flags the stated share of held-out good parts, defect labels or not.
      expect(result.calibration).toMatchObject({ method: 'good-percentile', percentile: 0.95 });
      const config = store.models.get(result.modelId)!.config;
      expect(config.falseAlarmRate).toBe(0.05);
      // Not told which feature maps: each candidate was fitted and judged, the best one kept; with
      // fewer than 30 good images, each set as the images are and with their views.
      const choice = config.layerChoice as LayerChoiceDto;
      expect(choice.candidates.map((c) => [c.layers, c.augmented])).toEqual(
        LAYER_CANDIDATES.flatMap((layers) => [
          [layers, true],
          [layers, false],
        ]),
      );
      const best = choice.candidates.reduce((a, b) =>
        b.validationAuroc > a.validationAuroc ? b : a,
      );
      expect(config.layers).toEqual(best.layers);
      // Its defect labels (as reviewed defects are) were cross-validated as a memory of defects;
      // the bank alone kept on these easy synthetic ones, so the validation is the choice's.
      const defectLabels = store.images.list({ objectTypes: ['nut'], label: 'defect' }).length;
      expect(config.defectMemory).toMatchObject({ defectImages: defectLabels, weight: 0 });
      expect(existsSync(join(result.path, 'defects.bin'))).toBe(false);
      expect(config.augmented === true).toBe(best.augmented);
      // Nut has defect labels: each candidate was judged by the mean of its AUROC on them and on
      // painted defects; the model's validation is on the labels alone.
      expect(best.validationAuroc).toBeGreaterThan(0.8);
      expect(result.metrics.imageAuroc).toBeGreaterThan(0.8);
      expectCurves(store, result.modelId, result.metrics);
      expect(existsSync(join(result.path, 'manifest.json'))).toBe(true);
      expect(store.models.active('nut')?.id).toBe(result.modelId);

      const chips = store.images.list({ objectTypes: ['nut'], label: 'defect' }).map((i) => i.path);
      const goods = store.images
        .list({ objectTypes: ['nut'], split: 'test', label: 'good' })
        .map((i) => i.path);
      const heatmapDir = join(tempDir(), 'heat');
      const scoring = await scoreForType(store, 'nut', [...chips, ...goods], { heatmapDir });
      expect(scoring.model.id).toBe(result.modelId);
      const byPath = new Map(scoring.results.map((r) => [r.path, r]));
      const meanScore = (paths: string[]) =>
        paths.reduce((sum, p) => sum + byPath.get(p)!.score, 0) / paths.length;
      expect(meanScore(chips)).toBeGreaterThan(meanScore(goods));
      expect(
        scoring.results.every(
          (r) => r.score >= 0 && r.score <= 1 && r.heatmapPath && existsSync(r.heatmapPath),
        ),
      ).toBe(true);
      expect(tf.memory().numTensors).toBe(before);
    },
    RETRAIN_TIMEOUT,
  );

  it(
    'keeps older versions for rollback and reports a corrupt file without stopping',
    async () => {
      // The second version at the Fine detail, smaller: two image scales, one memory bank per
      // scale in its folder, the coarse one judged relative to each image.
      const second = await retrainObjectType(
        { store, engine },
        { objectType: 'nut', ...DETAIL_LEVELS.fine.retrain, inputSize: SIZE, seed: 2 },
      );
      const saved = JSON.parse(readFileSync(join(second.path, 'detector.json'), 'utf8')) as {
        config: { scales: number[]; centredScales: number[] };
        banks: unknown[];
      };
      expect(saved.config.scales).toEqual([1, 0.5]);
      expect(saved.config.centredScales).toEqual([0.5]);
      expect(saved.banks).toHaveLength(2);
      // The Fine detail names its feature maps: only those are fitted (as the images are and, few
      // as they are, with their views).
      const secondConfig = store.models.get(second.modelId)!.config;
      expect(secondConfig.layers).toEqual(DETAIL_LEVELS.fine.retrain.layers);
      expect((secondConfig.layerChoice as LayerChoiceDto).candidates.map((c) => c.layers)).toEqual([
        DETAIL_LEVELS.fine.retrain.layers,
        DETAIL_LEVELS.fine.retrain.layers,
      ]);
      // No rate given: the type keeps the one its active model was set for.
      expect(second.calibration.percentile).toBeCloseTo(0.95, 12);
      expect(store.models.get(second.modelId)!.config.falseAlarmRate).toBe(0.05);
      const models = store.models.list('nut');
      expect(models.length).toBe(2);
      const active = store.models.active('nut')!;
      const other = models.find((m) => m.id !== active.id)!;
      expect(other.status).toBe('ready');
      expect(second.previous).toBeDefined();

      const dataDir = store.paths.root;
      const ctx = { out: () => undefined, err: () => undefined, interactive: false };
      expect(
        await runCli(['models', 'activate', String(other.id), '--data-dir', dataDir], ctx),
      ).toBe(0);
      expect(store.models.active('nut')!.id).toBe(other.id);

      const broken = join(tempDir(), 'broken.png');
      writeFileSync(broken, 'not a png');
      const good = store.images.list({ objectTypes: ['nut'], label: 'good' })[0]!.path;
      const scoring = await scoreForType(store, 'nut', [broken, good]);
      expect(scoring.results.map((r) => r.path)).toEqual([good]);
      expect(scoring.errors).toEqual([
        expect.objectContaining({ path: broken, problem: 'not-an-image' }),
      ]);
    },
    RETRAIN_TIMEOUT,
  );

  it(
    'lets a classifier head compete with the one-class model once the type has enough defect labels',
    async () => {
      const defects = store.images.list({ objectTypes: ['nut'], label: 'defect' }).length;
      const logs: string[] = [];
      const result = await retrainObjectType(
        { store, engine },
        {
          objectType: 'nut',
          inputSize: SIZE,
          // The app waits for 20 defect labels; this small set has fewer.
          classifierMinDefects: 6,
          classifierEpochs: 3,
          onLog: (line) => logs.push(line),
        },
      );
      expect(logs.some((line) => /one-class .* classifier head/.test(line))).toBe(true);
      // Half the defects trained the head; the other half judged both candidates.
      expect(result.metrics.defectImages).toBe(Math.floor(defects / 2));
      expect(['one-class', 'classifier']).toContain(result.kind);
      expect(store.models.get(result.modelId)!.kind).toBe(result.kind);
      // Whichever won is a model folder inspection can load and score with.
      const prepared = await engine.run('inspect-prepare', { model: result.path });
      expect(prepared.calibration.threshold).toBe(result.calibration.threshold);
      await engine.run('inspect-release', {});
    },
    RETRAIN_TIMEOUT,
  );

  it('scores a type with no model zero-shot, and refuses too few good images with a clear message', async () => {
    const pills = store.images.list({ objectTypes: ['pill'], split: 'test' }).map((i) => i.path);
    const scoring = await scoreForType(store, 'pill', pills, { inputSize: SIZE });
    expect(scoring.model).toMatchObject({ id: null, kind: 'zero-shot' });
    // Calibrated on the folder's own scores: no labels, so one of the unlabeled methods.
    expect(scoring.calibration.method).toMatch(/^(robust-outlier|mixture)$/);
    expect(scoring.results).toHaveLength(pills.length);

    // The engine's inspection: the folder's files scored to calibrate are not scored again
    // when recorded, unless they need a heatmap (flagged ones; every one with 'all').
    const prepared = await engine.run('inspect-prepare', {
      zeroShot: {
        objectType: 'pill',
        files: pills,
        out: tempDir(),
        inputSize: SIZE,
        references: 8,
      },
    });
    const batchArgs = {
      modelPath: prepared.modelPath,
      calibration: prepared.calibration,
      files: pills,
      heatmapDir: tempDir(),
    };
    const flagged = await engine.run('inspect-batch', batchArgs);
    expect(flagged.results).toHaveLength(pills.length);
    const ok = flagged.results.filter((r) => r.decision === 'OK');
    expect(ok.length).toBeGreaterThan(0);
    expect(flagged.fromPreparation).toBe(ok.length);
    expect(flagged.results.every((r) => (r.decision === 'OK') === (r.heatmapPath === null))).toBe(
      true,
    );
    const all = await engine.run('inspect-batch', { ...batchArgs, heatmaps: 'all' });
    expect(all.fromPreparation).toBe(0);
    // The same scores either way, and a file changed since is scored afresh.
    const rawOf = (batch: typeof all) => new Map(batch.results.map((r) => [r.path, r.rawScore]));
    for (const [path, raw] of rawOf(all)) expect(rawOf(flagged).get(path)).toBeCloseTo(raw, 4);
    const changed = join(tempDir(), 'changed.png');
    writeFileSync(changed, readFileSync(ok[0]!.path));
    writeFileSync(changed, Buffer.concat([readFileSync(changed), Buffer.from('trailing bytes')]));
    const again = await engine.run('inspect-batch', { ...batchArgs, files: [changed] });
    expect([again.results.length, again.fromPreparation]).toEqual([1, 0]);
    await engine.run('inspect-release', {});

    const lone = tempDir();
    store.objectTypes.ensure('empty-type');
    await expect(
      retrainObjectType({ store, engine }, { objectType: 'empty-type' }),
    ).rejects.toThrow(/0 good image\(s\); a model needs at least 10/);
    await expect(retrainObjectType({ store, engine }, { objectType: 'nope' })).rejects.toThrow(
      /No object type 'nope'/,
    );
    await expect(scoreForType(store, 'pill', [join(lone, 'x.png')])).rejects.toThrow(
      /zero-shot needs at least two/,
    );
  });

  it(
    'tries the defect head by default, records its check, and keeps it off for a type once told',
    async () => {
      const withHead = await retrainObjectType(
        { store, engine },
        { objectType: 'nut', inputSize: SIZE, layers: ['stride8', 'stride16'] },
      );
      const check = withHead.defectHead!;
      expect(store.models.get(withHead.modelId)!.config.defectHead).toEqual(check);
      const saved = JSON.parse(readFileSync(join(withHead.path, 'detector.json'), 'utf8')) as {
        config: { head: unknown; imageScoring: unknown };
        headCheck: unknown;
      };
      expect(saved.config.head).toMatchObject({ weight: 1 });
      // A few shots: the image score from single patches (oneClassScoring).
      expect(saved.config.imageScoring).toEqual(TOP_PATCHES);
      expect(saved.headCheck).toEqual(check);
      expect(existsSync(join(withHead.path, 'head.bin'))).toBe(check.used);
      // Too few good images (fewer than 30) to hold three out: left out, and the line says why.
      // So few that the bank was also fitted learning each one mirrored and turned: both judged
      // on the same validation images, the better kept, and the model says which.
      expect(check).toMatchObject({ used: false });
      const headConfig = store.models.get(withHead.modelId)!.config;
      const views = headConfig.layerChoice as LayerChoiceDto;
      expect(views.candidates.map((c) => [c.layers, c.augmented])).toEqual([
        [['stride8', 'stride16'], true],
        [['stride8', 'stride16'], false],
      ]);
      // The views first, so kept on a tie.
      const kept = views.candidates[0]!.validationAuroc >= views.candidates[1]!.validationAuroc;
      expect(views.augmented).toBe(kept);
      expect(headConfig.augmented === true).toBe(kept);
      expect(withHead.augmented === true).toBe(kept);
      expect(featuresLine(headConfig)).toMatch(
        new RegExp(
          String.raw`^stride 8 \+ 16, chosen by validation AUROC \(stride 8 \+ 16 \+ mirrored/turned [01]\.\d{3}, stride 8 \+ 16 [01]\.\d{3}\)(; the best 2 tie, so validation could not tell them apart)?; no defect head: it needs 30 good images to check itself on` +
            // Its defect labels played reviewed defects: learned, or the line says why not.
            String.raw`; (learned \d+ labeled defects(, their patches unlike any good part,)? at weight [\d.]+ \(cross-validated AUROC [01]\.\d{3} against [01]\.\d{3} without\)|\d+ labeled defects not learned: (the bank alone cross-validated as well \(AUROC [01]\.\d{3}\)|the memory that cross-validated best \(AUROC [01]\.\d{3} against [01]\.\d{3} without\) would rank good parts above defects unlike them))` +
            (kept
              ? '; fewer than 30 good images, so each was also learned mirrored and turned$'
              : '$'),
        ),
      );
      const listed: string[] = [];
      const listing = {
        out: (line: string) => listed.push(line),
        err: () => {},
        interactive: false,
      };
      expect(
        await runCli(['models', 'list', '--type', 'nut', '--data-dir', store.paths.root], listing),
      ).toBe(0);
      // The maps were told; validation chose only whether to add the views.
      const active = listed
        .join('\n')
        .split('\n')
        .find((line) => /\bactive\b/.test(line));
      expect(active).toContain(`stride 8 + 16${kept ? ' + mirrored/turned' : ''}`);
      expect(active).not.toContain('(chosen)');
      expect(
        (
          JSON.parse(readFileSync(join(withHead.path, 'detector.json'), 'utf8')) as {
            config: { augment: boolean };
          }
        ).config.augment,
      ).toBe(kept);
      // The next retrain of the type keeps it unless told otherwise, as it keeps the rate.
      const ctx = { out: () => undefined, err: () => undefined, interactive: false };
      expect(typeDefectHead(store.models.get(withHead.modelId)!.config)).toBe(true);
      store.models.activate(withHead.modelId);
      const off = await retrainObjectType(
        { store, engine },
        {
          objectType: 'nut',
          inputSize: SIZE,
          layers: ['stride8', 'stride16'],
          defectHead: false,
          views: 'off',
        },
      );
      expect(off.defectHead).toBeUndefined();
      expect(store.models.get(off.modelId)!.config.defectHead).toBe(false);
      expect(typeDefectHead(store.models.get(off.modelId)!.config)).toBe(false);
      // So are the views set by hand; a model whose views were left to the painted defects says auto.
      expect(typeViews(store.models.get(off.modelId)!.config)).toBe('off');
      expect(typeViews(store.models.get(withHead.modelId)!.config)).toBe('auto');
      // A type with good images only: validated on painted defects, which the head learned from,
      // so it is judged (and warned) on its memory bank alone and its catch rate said optimistic.
      // 75 good images: one in ten of those fitted is held out to check and weigh the head.
      const more = tempDir();
      await generateDataset(more, { seed: 6, perType: 50, size: 128, types: ['nut'] });
      const goodOnly = join(tempDir(), 'good-only', 'nut-good', 'train', 'good');
      mkdirSync(goodOnly, { recursive: true });
      for (const split of ['train', 'test']) {
        const from = join(more, 'nut', split, 'good');
        for (const name of readdirSync(from)) copyFileSync(join(from, name), join(goodOnly, name));
      }
      await importDataset(store, dirname(dirname(dirname(goodOnly))));
      const painted = await retrainObjectType(
        { store, engine },
        {
          objectType: 'nut-good',
          inputSize: SIZE,
          layers: ['stride8', 'stride16'],
          defectHead: true,
        },
      );
      expect(painted.metrics.defects).toBe('synthetic');
      expectCurves(store, painted.modelId, painted.metrics);
      // Enough good images: the bank learns them as they are.
      expect(store.models.get(painted.modelId)!.config.augmented).toBeUndefined();
      expect(painted.augmented).toBeUndefined();
      expect(painted.defectHead).toMatchObject({ used: true });
      expect(painted.defectHead!.heldOutImages).toBeGreaterThanOrEqual(3);
      expect(painted.defectHead!.weight).toBeGreaterThan(0);
      expect(painted.metrics.bankAuroc).toBeGreaterThan(0.5);
      expect(painted.metrics.bankAuroc).toBeLessThanOrEqual(painted.metrics.imageAuroc);
      expect(modelExpectation(painted.metrics)).toMatchObject({
        auroc: painted.metrics.bankAuroc,
        optimistic: true,
      });

      const errors: string[] = [];
      const code = await runCli(
        ['retrain', '--type', 'nut', '--defect-head', 'maybe', '--data-dir', store.paths.root],
        { ...ctx, err: (line: string) => errors.push(line) },
      );
      expect(code).not.toBe(0);
      expect(errors.join('\n')).toMatch(/--defect-head takes on or off; got 'maybe'/);
      expect(
        await runCli(
          ['retrain', '--type', 'nut', '--views', 'sideways', '--data-dir', store.paths.root],
          { ...ctx, err: (line: string) => errors.push(line) },
        ),
      ).not.toBe(0);
      expect(errors.join('\n')).toMatch(/--views takes auto, on, off; got 'sideways'/);
    },
    RETRAIN_TIMEOUT,
  );
});
