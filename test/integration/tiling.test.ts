import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src-main/cli/main.js';
import { importDataset } from '../../src-main/data/importers/import.js';
import { generateDataset } from '../../src-main/data/synthetic/generate.js';
import { initBackend } from '../../src-main/engine/backend.js';
import type { EvalReport } from '../../src-main/engine/evaluation.js';
import { EngineClient } from '../../src-main/jobs/engine-client.js';
import { retrainObjectType } from '../../src-main/inspection/retrain.js';
import { openStore, type Store } from '../../src-main/store/store.js';
import { tempDir } from '../fixtures/images.js';

// Images of 128 px scored at their full size in 64 px tiles: a tile sees the defects at twice
// the detail a whole image squeezed to 64 px would.
const TILE = 64;
const TILE_SCALE = 128;

describe('scoring large images in tiles, as retrain ships it and eval measures it', () => {
  let root: string;
  let store: Store;
  const engine = new EngineClient();
  afterAll(() => engine.close());
  beforeAll(async () => {
    await initBackend();
    root = tempDir();
    await generateDataset(root, { seed: 7, perType: 14, size: 128, types: ['nut'] });
    store = openStore(tempDir());
    await importDataset(store, root);
  });

  it('retrains a type in tiles, keeps the setting for the type, and inspects with it', async () => {
    const before = tf.memory().numTensors;
    const tiled = await retrainObjectType(
      { store, engine },
      { objectType: 'nut', inputSize: TILE, tileScale: TILE_SCALE },
    );
    expect(tiled.kind).toBe('one-class');
    expect(store.models.get(tiled.modelId)!.config.tileScale).toBe(TILE_SCALE);
    // No defect head in tiles (patchcore.ts): none was trained or checked.
    expect(tiled.defectHead).toBeUndefined();
    const saved = JSON.parse(readFileSync(join(tiled.path, 'detector.json'), 'utf8')) as {
      config: { inputSize: number; tileScale: number | null };
    };
    expect(saved.config).toMatchObject({ inputSize: TILE, tileScale: TILE_SCALE, augment: false });
    // Few good images, but in tiles: learned as they are (learnsViews).
    expect(store.models.get(tiled.modelId)!.config.augmented).toBeUndefined();
    expect(tiled.metrics.imageAuroc).toBeGreaterThan(0.8);

    // Inspection loads the tiled model and scores whole images, heatmaps at their full size.
    const defects = store.images.list({ objectTypes: ['nut'], label: 'defect' }).map((i) => i.path);
    const goods = store.images
      .list({ objectTypes: ['nut'], split: 'test', label: 'good' })
      .map((i) => i.path);
    const prepared = await engine.run('inspect-prepare', { model: tiled.path });
    const inspected = await engine.run('inspect-batch', {
      modelPath: prepared.modelPath,
      calibration: prepared.calibration,
      files: [...defects, ...goods],
      heatmapDir: tempDir(),
      heatmaps: 'all',
    });
    await engine.run('inspect-release', {});
    const score = new Map(inspected.results.map((r) => [r.path, r.score]));
    const mean = (paths: string[]) => paths.reduce((s, p) => s + score.get(p)!, 0) / paths.length;
    expect(mean(defects)).toBeGreaterThan(mean(goods));
    expect(inspected.results.every((r) => r.heatmapPath !== null)).toBe(true);

    // `models list` says how the model scores.
    const lines: string[] = [];
    const ctx = { out: (s: string) => lines.push(s), err: () => undefined, interactive: false };
    expect(await runCli(['models', 'list', '--data-dir', store.paths.root], ctx)).toBe(0);
    expect(lines.join('\n')).toMatch(/tiled at[\s\S]*128 px/);

    // The type keeps its tiling unless told otherwise; `none` scores whole images again.
    const kept = await retrainObjectType(
      { store, engine },
      { objectType: 'nut', inputSize: TILE, seed: 2 },
    );
    expect(store.models.get(kept.modelId)!.config.tileScale).toBe(TILE_SCALE);
    const untiled = await retrainObjectType(
      { store, engine },
      { objectType: 'nut', inputSize: TILE, tileScale: null, seed: 3 },
    );
    expect(store.models.get(untiled.modelId)!.config.tileScale).toBeNull();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('eval --tile-scale measures the tiled detector, defects located by the masks', async () => {
    const json = join(tempDir(), 'tiled.json');
    const ctx = { out: () => undefined, err: () => undefined, interactive: false };
    const args = ['eval', '--root', root, '--test-types', 'nut', '--detector', 'one-class'];
    expect(
      await runCli([...args, '--size', String(TILE), '--tile-scale', '128', '--json', json], ctx),
    ).toBe(0);
    const report = JSON.parse(readFileSync(json, 'utf8')) as EvalReport;
    expect(report).toMatchObject({ input_size: TILE, tile_scale: TILE_SCALE });
    const [nut] = report.types;
    expect(nut!.input_shape).toEqual([TILE_SCALE, TILE_SCALE]);
    expect(nut!.image_auroc).toBeGreaterThan(0.8);
    expect(nut!.pixel_auroc).toBeGreaterThan(0.8);
    // A scale that would put tile edges off the patch grid is refused with the reason.
    const errors: string[] = [];
    expect(
      await runCli([...args, '--tile-scale', '230'], { ...ctx, err: (s) => errors.push(s) }),
    ).toBe(2);
    expect(errors.join('\n')).toMatch(/multiple of 16 of at least 224; got 230/);
  });
});
