// `defectscope train` end to end on a small synthetic dataset: SimCLR pretraining, the classifier
// head on that encoder, the VGG-16 baseline, and the messages for wrong arguments.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src-main/cli/main.js';
import { generateDataset } from '../../src-main/data/synthetic/generate.js';
import { initBackend } from '../../src-main/engine/backend.js';
import { loadModel, readManifest } from '../../src-main/engine/model-files.js';
import { tempDir } from '../fixtures/images.js';

let root: string;
let work: string;

async function train(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['train', '--root', root, '--data-dir', work, ...args], {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    interactive: false,
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

beforeAll(async () => {
  await initBackend();
  root = tempDir();
  work = tempDir();
  // Per type: 8 good training images, and about 4 good and 4 defective test images.
  await generateDataset(root, { seed: 2, perType: 8, size: 64, types: ['nut', 'grid'] });
});

describe('defectscope train', () => {
  const simclrModel = () => join(work, 'simclr-model');

  it('pretrains an encoder with SimCLR and saves a model that loads again', async () => {
    const { code, out, err } = await train([
      '--method',
      'simclr',
      '--types',
      'nut,grid',
      '--size',
      '32',
      '--batch',
      '8',
      '--epochs',
      '2',
      '--out',
      simclrModel(),
    ]);
    expect(err).toMatch(/simclr: 16 images of nut, grid; 2 epochs × 2 steps of 8/);
    expect(err).toMatch(/simclr \[#+\] 4\/4 loss \d\.\d{4} · [\d.]+ img\/s · ETA 0s/);
    expect(code).toBe(0);
    expect(out).toMatch(/^simclr on nut, grid: 4 steps, loss [\d.]+ → [\d.]+ .*model saved to /);
    const manifest = await readManifest(simclrModel());
    expect(manifest).toMatchObject({
      kind: 'simclr',
      objectTypes: ['nut', 'grid'],
      inputSize: 32,
      encoder: { kind: 'resnet' },
      training: { method: 'simclr', images: 16, epochs: 2, batchSize: 8 },
    });
    expect(manifest.metrics.losses).toHaveLength(4);
    expect(existsSync(`${simclrModel()}.checkpoint`)).toBe(false);
    (await loadModel(simclrModel())).dispose();
  });

  it('trains the classifier head on that encoder and reports validation accuracy', async () => {
    const out = join(work, 'classifier-model');
    const result = await train([
      '--method',
      'classifier',
      '--types',
      'nut,grid',
      '--from',
      simclrModel(),
      '--size',
      '32',
      '--batch',
      '8',
      '--epochs',
      '2',
      '--lr',
      '1e-3',
      '--out',
      out,
    ]);
    expect(result.code).toBe(0);
    expect(result.err).toMatch(/epoch 2\/2: train loss [\d.]+, validation loss [\d.]+, accuracy /);
    expect(result.out).toMatch(
      /^classifier on nut, grid: validation accuracy \d\.\d{3}, balanced accuracy \d\.\d{3}, F1 \d\.\d{3}.* after 2 epochs/,
    );
    const manifest = await readManifest(out);
    expect(manifest).toMatchObject({
      kind: 'classifier',
      parent: simclrModel(),
      head: { outputs: 'defect-logit' },
      training: { encoder: 'resnet', fineTuneEncoder: false, learningRate: 1e-3 },
    });
    expect(manifest.metrics.validation).toMatchObject({ epoch: 2 });
    expect(manifest.metrics.epochs).toHaveLength(2);
  });

  it("trains the seed's VGG-16 baseline end to end", async () => {
    const out = join(work, 'baseline-model');
    const result = await train([
      '--method',
      'baseline',
      '--types',
      'nut',
      '--vgg-width',
      '0.125',
      '--size',
      '32',
      '--batch',
      '4',
      '--epochs',
      '1',
      '--out',
      out,
    ]);
    expect(result.code).toBe(0);
    expect(result.err).toMatch(/vgg16 encoder fine-tuned at 32 px/);
    expect(result.out).toMatch(/^baseline on nut: validation accuracy /);
    expect(await readManifest(out)).toMatchObject({
      kind: 'baseline',
      training: { encoder: 'vgg16', fineTuneEncoder: true, learningRate: 1e-4 },
    });
  });

  it('says what is wrong with the arguments', async () => {
    let result = await train(['--method', 'magic']);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/--method must be one of simclr, classifier, baseline/);
    result = await train(['--method', 'simclr', '--types', 'screw', '--size', '32']);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/No images of object type 'screw'.*Known types: grid, nut/);
    result = await train(['--method', 'simclr', '--encoder', 'mobilenetv3']);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/frozen\. Use resnet or mobilenetv3-trainable/);
  });
});
