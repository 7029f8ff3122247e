import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src-main/cli/main.js';
import { generateDataset } from '../../src-main/data/synthetic/generate.js';
import { initBackend } from '../../src-main/engine/backend.js';
import { runEvaluation, type EvalReport } from '../../src-main/engine/evaluation.js';
import { tempDir } from '../fixtures/images.js';

const metricKeys = [
  'image_auroc',
  'average_precision',
  'f1_max',
  'precision',
  'recall',
  'f1',
  'accuracy',
  'balanced_accuracy',
  'recall_at_1pct_fpr',
  'recall_at_5pct_fpr',
  'false_alarm_rate',
];

describe('defectscope eval (the unknown-context protocol)', () => {
  let root: string;
  beforeAll(async () => {
    await initBackend();
    root = tempDir();
    await generateDataset(root, { seed: 3, perType: 16, size: 128, types: ['nut', 'pill'] });
  });

  it('one-class flags defects on a product type it fits from good images only, with pixel AUROC from the masks', async () => {
    const report = await runEvaluation({
      root,
      pretrainTypes: [],
      testTypes: ['nut'],
      detector: 'one-class',
      encoder: 'mobilenetv3',
      inputSize: 128,
      epochs: 1,
      batchSize: 8,
      seed: 1,
    });
    const [nut] = report.types;
    expect(nut).toMatchObject({
      type: 'nut',
      images: 16,
      defects: 8,
      threshold_method: 'good-percentile',
      failed_images: 0,
    });
    expect(nut!.image_auroc).toBeGreaterThan(0.8);
    expect(nut!.pixel_auroc).toBeGreaterThan(0.8);
    // As retrain does: each candidate judged on held-out good images with painted defects, the
    // best one measured; fewer than 30 good images, so each feature-map set also with its views.
    const candidates = nut!.layer_choice!.candidates;
    expect(candidates.map((c) => c.augmented)).toEqual([true, false, true, false]);
    const best = candidates.reduce((a, b) => (b.validationAuroc > a.validationAuroc ? b : a));
    expect(nut!.layers).toEqual(best.layers);
    expect(nut!.layer_choice!.augmented).toBe(best.augmented);
    for (const key of metricKeys)
      expect(report.overall[key as keyof EvalReport['overall']]).toBeGreaterThanOrEqual(0);
  });

  it('zero-shot scores a never-seen folder with no labels and no fitting', async () => {
    const report = await runEvaluation({
      root,
      pretrainTypes: [],
      testTypes: ['pill'],
      detector: 'zero-shot',
      encoder: 'mobilenetv3',
      inputSize: 128,
      epochs: 1,
      batchSize: 8,
      seed: 1,
    });
    expect(report.types[0]).toMatchObject({ type: 'pill', images: 16 });
    // No labels: the threshold comes from the folder's own scores, by one of the unlabeled methods.
    expect(report.types[0]!.threshold_method).toMatch(/^(robust-outlier|mixture)$/);
    expect(report.types[0]!.image_auroc).toBeGreaterThan(0.6);
  });

  it("classifier learns from one type's labels and judges an unseen type from its unlabeled folder", async () => {
    const report = await runEvaluation({
      root,
      pretrainTypes: ['nut'],
      testTypes: ['pill'],
      detector: 'classifier',
      encoder: 'mobilenetv3',
      inputSize: 128,
      epochs: 1,
      batchSize: 8,
      seed: 1,
    });
    expect(report.classifier_head).toBe('evidence');
    expect(report.types[0]).toMatchObject({
      type: 'pill',
      images: 16,
      threshold_method: 'classifier-validation',
    });
    expect(report.types[0]!.image_auroc).toBeGreaterThan(0.7);
    // Its anomaly maps are the zero-shot ones, so pixel AUROC is measured too.
    expect(report.types[0]!.pixel_auroc).toBeGreaterThan(0.7);
  });

  it('one-class with --reviewed: defects play reviewed ones, taught to the model and left out of the metrics', async () => {
    const json = join(tempDir(), 'reviewed.json');
    const err: string[] = [];
    const ctx = { out: () => {}, err: (l: string) => err.push(l), interactive: false };
    const argv = ['eval', '--root', root, '--test-types', 'nut', '--size', '96'];
    expect(await runCli([...argv, '--reviewed', '4', '--json', json], ctx)).toBe(0);
    const report = JSON.parse(readFileSync(json, 'utf8')) as EvalReport;
    expect(report.reviewed).toBe(4);
    expect(report.views).toBe('auto');
    // 16 test images, 8 of them defects: 4 played reviewed defects and were not measured.
    const [nut] = report.types;
    expect(nut).toMatchObject({ images: 12, defects: 4 });
    // Cross-validated against the held-out good images (a fifth of nut's 16 good ones, at least 3).
    expect(nut!.defect_memory).toMatchObject({ defectImages: 4, goodImages: 3 });
    expect(nut!.defect_memory!.candidates.length).toBeGreaterThan(1);
    expect(
      err.some((l) => /^nut: (learned 4 labeled defects|4 labeled defects not learned)/.test(l)),
    ).toBe(true);

    expect(await runCli([...argv, '--reviewed', '8'], ctx)).toBe(2);
    expect(err.at(-1)).toMatch(/--reviewed 8: nut has 8 test defects; leave at least one/);
    expect(await runCli([...argv, '--reviewed', '2', '--detector', 'zero-shot'], ctx)).toBe(2);
    expect(err.at(-1)).toMatch(/--reviewed applies to --detector one-class only/);
    expect(await runCli([...argv, '--views', 'on', '--detector', 'zero-shot'], ctx)).toBe(2);
    expect(err.at(-1)).toMatch(/--views applies to --detector one-class only/);
    expect(await runCli([...argv, '--views', 'twice'], ctx)).toBe(2);
    expect(err.at(-1)).toMatch(/--views takes auto, on, off; got 'twice'/);
  });

  it('writes the JSON report the issue specifies and refuses a type in both sets', async () => {
    const json = join(tempDir(), 'report.json');
    const out: string[] = [];
    const err: string[] = [];
    const ctx = {
      out: (l: string) => out.push(l),
      err: (l: string) => err.push(l),
      interactive: false,
    };
    const argv = [
      'eval',
      '--root',
      root,
      '--test-types',
      'nut',
      '--detector',
      'one-class',
      '--shots',
      '4',
      '--size',
      '96',
      '--scales',
      '1,0.5',
      '--centred-scales',
      '0.5',
      '--json',
      json,
    ];
    expect(await runCli(argv, ctx)).toBe(0);
    const report = JSON.parse(readFileSync(json, 'utf8')) as EvalReport;
    expect(report.detector).toBe('one-class');
    expect(report.shots).toBe(4);
    expect([report.scales, report.centred_scales]).toEqual([[1, 0.5], [0.5]]);
    expect(Object.keys(report.types[0]!)).toEqual(
      expect.arrayContaining(['type', ...metricKeys, 'pixel_auroc']),
    );
    expect(out.join('\n')).toMatch(/overall/);

    const clash = [
      'eval',
      '--root',
      root,
      '--pretrain-types',
      'nut',
      '--test-types',
      'nut',
      '--detector',
      'classifier',
    ];
    expect(await runCli(clash, ctx)).toBe(2);
    expect(err.at(-1)).toMatch(/cannot be both a pretrain and a test type/);
    expect(
      await runCli(['eval', '--root', root, '--test-types', 'nut', '--detector', 'magic'], ctx),
    ).toBe(2);
    expect(
      await runCli(['eval', '--root', root, '--test-types', 'nut', '--head', 'embedding'], ctx),
    ).toBe(2);
    expect(err.at(-1)).toMatch(/--head applies to --detector classifier only/);
    const centred = ['eval', '--root', root, '--test-types', 'nut', '--centred-scales', '0.5'];
    expect(await runCli(centred, ctx)).toBe(2);
    expect(err.at(-1)).toMatch(/Centred scales must be among the scales \(1\); got 0\.5/);
    expect(await runCli([...centred, '--detector', 'zero-shot'], ctx)).toBe(2);
    expect(err.at(-1)).toMatch(/--centred-scales apply to --detector one-class only/);
    expect(await runCli(['eval', '--root', root, '--test-types', 'screw'], ctx)).toBe(2);
    expect(err.at(-1)).toMatch(/'screw' not found/);
    const roi = ['eval', '--root', root, '--test-types', 'nut', '--roi', '0,0,128,64'];
    expect(
      await runCli([...roi, '--pretrain-types', 'pill', '--detector', 'classifier'], ctx),
    ).toBe(2);
    expect(err.at(-1)).toMatch(/--roi applies to --detector one-class and zero-shot only/);
    expect(
      await runCli(['eval', '--root', root, '--test-types', 'nut', '--roi', '0,0,64'], ctx),
    ).toBe(2);
    expect(err.at(-1)).toMatch(/--roi takes x,y,w,h/);
  });

  it('one-class within a region of interest scores the region at its aspect, masks cropped alike', async () => {
    const report = await runEvaluation({
      root,
      pretrainTypes: [],
      testTypes: ['nut'],
      detector: 'one-class',
      encoder: 'mobilenetv3',
      inputSize: 64,
      roi: { x: 0, y: 0, width: 128, height: 64 },
      epochs: 1,
      batchSize: 8,
      seed: 1,
    });
    const [nut] = report.types;
    // The top half of the 128 px tiles: 2:1, so 128 × 64 at a 64 px short side.
    expect(nut!.input_shape).toEqual([128, 64]);
    expect(nut!.failed_images).toBe(0);
    expect(nut!.image_auroc).toBeGreaterThan(0.5);
    expect(nut!.pixel_auroc).toBeGreaterThan(0.9);
  });
});
