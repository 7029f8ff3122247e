import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openServices, type AppServices } from '../../src-main/api/services.js';
import { runCli } from '../../src-main/cli/main.js';
import { importDataset } from '../../src-main/data/importers/import.js';
import { generateDataset } from '../../src-main/data/synthetic/generate.js';
import { zeroShotFolder } from '../../src-main/inspection/inspect.js';
import type { TypeScoring } from '../../src-main/inspection/scoring.js';
import {
  DETAIL_LEVELS,
  type InspectSummary,
  type RetrainSummary,
} from '../../src-main/shared/dto.js';
import { tempDir } from '../fixtures/images.js';

const SIZE = 64;
/** The part: the top half of the generated 128 px tiles; the bottom half is the conveyor. */
const ROI = { x: 0, y: 0, width: 128, height: 64 };

/** `source` with a black 20 px square at (left, top): a defect no good tile has. */
async function withBlot(source: string, target: string, left: number, top: number) {
  const blot = { create: { width: 20, height: 20, channels: 3 as const, background: '#000' } };
  await sharp(source)
    .composite([{ input: blot, left, top }])
    .png()
    .toFile(target);
}

async function pixels(path: string): Promise<Buffer> {
  return sharp(path).removeAlpha().raw().toBuffer();
}

describe("a type's region of interest", () => {
  let root: string;
  let services: AppServices;
  const out: string[] = [];
  const err: string[] = [];
  const cli = (args: string[]) =>
    runCli([...args, '--data-dir', services.ctx.store.paths.root], {
      out: (line: string) => out.push(line),
      err: (line: string) => err.push(line),
      interactive: false,
    });
  beforeAll(async () => {
    root = tempDir();
    await generateDataset(root, { seed: 4, perType: 14, size: 128, types: ['grid'] });
    services = openServices({ dataDir: tempDir() });
    await importDataset(services.ctx.store, root);
  });
  afterAll(() => services.close());

  it('refuses a region that is not x,y,w,h in whole pixels before any work starts', async () => {
    expect(await cli(['retrain', '--type', 'grid', '--roi', '0,0,0,10'])).toBe(2);
    expect(err.join('\n')).toMatch(/w and h must be more than 0/);
    expect(await cli(['retrain', '--type', 'grid', '--roi', '10,10'])).toBe(2);
    expect(err.join('\n')).toMatch(/--roi takes x,y,w,h .* or none; got '10,10'/);
    expect(services.ctx.store.models.list('grid')).toEqual([]);
  });

  it('says so when the region misses every image of the type', async () => {
    const started = await services.router.invoke('retrain/start', {
      objectType: 'grid',
      inputSize: SIZE,
      roi: { x: 500, y: 0, width: 100, height: 100 },
    });
    const job = await services.ctx.jobs.settled(started.jobId);
    expect(job.status).toBe('failed');
    expect(services.ctx.jobs.getWithLog(started.jobId)!.log).toMatch(
      /left out of fitting: .*region of interest 500,0,100,100 lies outside this 128 × 128 image/,
    );
    expect(services.ctx.store.models.list('grid')).toEqual([]);
  });

  it('scores only the part: a blot outside the region is not flagged, one inside is, and the heatmap leaves the outside uncoloured', async () => {
    const started = await services.router.invoke('retrain/start', {
      objectType: 'grid',
      inputSize: SIZE,
      roi: ROI,
    });
    const retrain = await services.ctx.jobs.settled(started.jobId);
    expect(retrain.status).toBe('done');
    const model = retrain.result as RetrainSummary;
    expect(model.roi).toEqual(ROI);
    const manifest = JSON.parse(readFileSync(join(model.path, 'manifest.json'), 'utf8')) as {
      roi?: unknown;
    };
    expect(manifest.roi).toEqual(ROI);
    expect(services.ctx.store.models.get(model.modelId)!.config.roi).toEqual(ROI);
    // Scored at the region's aspect (2:1), not the tile's square.
    const detector = JSON.parse(readFileSync(join(model.path, 'detector.json'), 'utf8')) as {
      config: { aspect: number };
    };
    expect(detector.config.aspect).toBeCloseTo(2, 6);
    expect((await services.ctx.engine.memory()).numTensors).toBe(0);

    const folder = join(tempDir('defectscope-camera-'), 'grid');
    mkdirSync(folder, { recursive: true });
    const good = services.ctx.store.images.list({
      objectTypes: ['grid'],
      split: 'test',
      label: 'good',
    })[0]!.path;
    const clean = join(folder, 'clean.png');
    copyFileSync(good, clean);
    await withBlot(good, join(folder, 'inside.png'), 54, 22);
    await withBlot(good, join(folder, 'outside.png'), 54, 90);
    const inspect = await services.router.invoke('inspect/start', {
      folder,
      objectType: 'grid',
      heatmaps: 'all',
    });
    const job = await services.ctx.jobs.settled(inspect.jobId);
    expect(job.status).toBe('done');
    const summary = job.result as InspectSummary;
    const results = await services.router.invoke('inspect/results', {
      inspectionId: summary.inspectionId,
    });
    const byName = new Map(results.items.map((r) => [r.path.split('/').pop()!, r]));
    const [inside, outside, untouched] = ['inside.png', 'outside.png', 'clean.png'].map((name) =>
      byName.get(name)!,
    );
    expect(inside!.decision).toBe('DEFECT');
    expect(outside!.decision).toBe('OK');
    // The blot outside the region is never seen: the same pixels were scored as the clean tile's.
    expect(outside!.score).toBe(untouched!.score);
    expect(inside!.score).toBeGreaterThan(untouched!.score!);

    // Heatmaps are the whole tile; below the region, the outside one's is the image as it was.
    const heat = await sharp(outside!.heatmapPath!).metadata();
    expect([heat.width, heat.height]).toEqual([128, 128]);
    const [overlay, original] = await Promise.all([
      pixels(outside!.heatmapPath!),
      pixels(join(folder, 'outside.png')),
    ]);
    const below = (buffer: Buffer) => buffer.subarray(3 * 128 * 65);
    expect(below(overlay).equals(below(original))).toBe(true);
    // Inside, at the blot, the inside one's is coloured.
    const insideOverlay = await pixels(inside!.heatmapPath!);
    const insideOriginal = await pixels(join(folder, 'inside.png'));
    const at = (buffer: Buffer) =>
      Array.from(buffer.subarray((32 * 128 + 64) * 3, (32 * 128 + 64) * 3 + 3));
    expect(at(insideOverlay)).not.toEqual(at(insideOriginal));
    expect((await services.ctx.engine.memory()).numTensors).toBe(0);

    // `defectscope score` reads the region from the model as the inspection did.
    out.length = 0;
    expect(await cli(['score', folder, '--type', 'grid', '--json'])).toBe(0);
    const scored = (JSON.parse(out.join('\n')) as TypeScoring).results;
    const scoreOf = (name: string) => scored.find((r) => r.path.endsWith(name))!;
    expect(scoreOf('outside.png').rawScore).toBe(scoreOf('clean.png').rawScore);
    expect(scoreOf('inside.png').decision).toBe('DEFECT');
  });

  it('scores a never-seen type zero-shot within the region asked for, and refuses a region a model would ignore', async () => {
    const folder = join(tempDir('defectscope-camera-'), 'new-part');
    mkdirSync(folder, { recursive: true });
    const goods = services.ctx.store.images.list({ objectTypes: ['grid'], label: 'good' });
    // Ten good parts and a clean copy: enough, reviewed, for the type's first retrain (below).
    goods
      .slice(0, 10)
      .forEach((image, i) => copyFileSync(image.path, join(folder, `good-${i}.png`)));
    const clean = goods[10]!.path;
    copyFileSync(clean, join(folder, 'clean.png'));
    await withBlot(clean, join(folder, 'inside.png'), 54, 22);
    await withBlot(clean, join(folder, 'outside.png'), 54, 90);

    const inspect = await services.router.invoke('inspect/start', {
      folder,
      objectType: 'new-part',
      inputSize: SIZE,
      roi: ROI,
      heatmaps: 'all',
    });
    const job = await services.ctx.jobs.settled(inspect.jobId);
    expect(job.status).toBe('done');
    const summary = job.result as InspectSummary;
    expect(summary.modelId).toBeNull();
    expect(services.ctx.jobs.getWithLog(inspect.jobId)!.log).toMatch(
      /scoring zero-shot: .*, within the region of interest 0,0,128,64/,
    );
    // Kept with the references, so a resumed run keeps to it too.
    const inspection = services.ctx.store.inspections.get(summary.inspectionId)!;
    const manifest = JSON.parse(
      readFileSync(join(inspection.modelPath!, 'manifest.json'), 'utf8'),
    ) as { roi?: unknown };
    expect(manifest.roi).toEqual(ROI);
    const results = await services.router.invoke('inspect/results', {
      inspectionId: summary.inspectionId,
    });
    const byName = new Map(results.items.map((r) => [r.path.split('/').pop()!, r]));
    const [inside, outside, untouched] = ['inside.png', 'outside.png', 'clean.png'].map((name) =>
      byName.get(name)!,
    );
    // The blot below the region is never seen; the one inside stands out.
    expect(outside!.score).toBe(untouched!.score);
    expect(inside!.score).toBeGreaterThan(untouched!.score!);
    const [overlay, original] = await Promise.all([
      pixels(outside!.heatmapPath!),
      pixels(join(folder, 'outside.png')),
    ]);
    const below = (buffer: Buffer) => buffer.subarray(3 * 128 * 65);
    expect(below(overlay).equals(below(original))).toBe(true);
    expect((await services.ctx.engine.memory()).numTensors).toBe(0);

    // A resumed inspection keeps its region; a type with a model keeps the model's.
    err.length = 0;
    expect(
      await cli([
        'inspect',
        folder,
        '--type',
        'new-part',
        '--roi',
        '0,0,10,10',
        '--resume',
        String(summary.inspectionId),
      ]),
    ).toBe(2);
    expect(err.join('\n')).toMatch(/keeps the region it began with/);
    err.length = 0;
    expect(await cli(['inspect', folder, '--type', 'grid', '--roi', '0,0,10,10'])).toBe(2);
    expect(err.join('\n')).toMatch(
      /scored by model \d+, which keeps to the region it was retrained with/,
    );
  });

  it("keeps a new type's zero-shot region for its next inspection and its first retrain, and says so", async () => {
    const first = (await services.router.invoke('datasets/types', {})).find(
      (t) => t.name === 'new-part',
    )!;
    expect(first).toMatchObject({
      activeModelId: null,
      zeroShotRegion: { roi: ROI },
      zeroShotDetail: { inputSize: SIZE, layers: DETAIL_LEVELS.standard.zeroShot.layers },
    });
    // The next folder of the type, inspected without a region or a size, keeps to the same
    // region at the same size.
    const folder = services.ctx.store.inspections.get(first.zeroShotRegion!.inspectionId)!.folder;
    const again = await services.router.invoke('inspect/start', {
      folder,
      objectType: 'new-part',
      heatmaps: 'none',
    });
    const settled = await services.ctx.jobs.settled(again.jobId);
    expect(settled.status).toBe('done');
    expect((settled.result as InspectSummary).roi).toEqual(ROI);
    const kept = JSON.parse(
      readFileSync(
        join(
          zeroShotFolder(services.ctx.store, (settled.result as InspectSummary).inspectionId),
          'detector.json',
        ),
        'utf8',
      ),
    ) as { config: { inputSize: number } };
    expect(kept.config.inputSize).toBe(SIZE);
    expect(services.ctx.jobs.getWithLog(again.jobId)!.log).toContain(
      `keeping the detail zero-shot inspection ${first.zeroShotDetail!.inspectionId} of new-part was scored at: ${SIZE} px, stride8 + stride16mid`,
    );
    expect(services.ctx.jobs.getWithLog(again.jobId)!.log).toMatch(
      new RegExp(
        `keeping the region of interest 0,0,128,64 that zero-shot inspection ${first.zeroShotRegion!.inspectionId} of new-part kept to[^]*within the region of interest 0,0,128,64`,
      ),
    );
    const types = await services.router.invoke('datasets/types', {});
    const region = types.find((t) => t.name === 'new-part')!.zeroShotRegion;
    expect(region?.roi).toEqual(ROI);
    expect(region?.inspectionId).toBeGreaterThan(first.zeroShotRegion!.inspectionId);
    expect(types.find((t) => t.name === 'grid')!.zeroShotRegion).toBeNull();
    // The inspector reviews the zero-shot results: the blotted part a defect, the rest good.
    const results = await services.router.invoke('inspect/results', {
      inspectionId: region!.inspectionId,
    });
    for (const result of results.items) {
      await services.router.invoke('review/verdict', {
        resultId: result.id,
        verdict: result.path.endsWith('inside.png') ? 'defect' : 'good',
      });
    }
    out.length = 0;
    err.length = 0;
    expect(await cli(['retrain', '--type', 'new-part', '--size', String(SIZE)])).toBe(0);
    expect(out.join('\n')).toContain(
      `Region of interest: 0,0,128,64 (image pixels), kept from zero-shot inspection ${region!.inspectionId} (--roi none scores the whole image).`,
    );
    const [model] = services.ctx.store.models.list('new-part');
    expect(model!.config.roi).toEqual(ROI);
    // Scored by that model now, the folder's zero-shot settings are said to be set aside.
    err.length = 0;
    expect(
      await cli(['inspect', folder, '--type', 'new-part', '--size', '96', '--heatmaps', 'none']),
    ).toBe(0);
    expect(err.join('\n')).toContain(
      `Note: --size and --layers set zero-shot scoring; model ${model!.id} scores new-part at the settings it was retrained with.`,
    );
  }, 180_000);

  it('keeps the region on the next retrain, shows it in models list, and clears it with --roi none', async () => {
    expect(await cli(['retrain', '--type', 'grid', '--size', String(SIZE)])).toBe(0);
    expect(out.join('\n')).toMatch(/Region of interest: 0,0,128,64/);
    // One validation AUROC is said, on the expectation line: not a second one beside it.
    expect(out.join('\n')).toMatch(
      /^Validation \(\d+ good, \d+ (labeled|synthetic) defects\): F1 /m,
    );
    expect(out.join('\n')).toMatch(/^Expected: .*\(validation AUROC [01]\.\d{3}\)/m);
    // Not told which feature maps: retrain says which it chose and what each validated at; so
    // few good images that each set was also tried with their views.
    expect(out.join('\n')).toMatch(
      /Feature maps: stride (4 \+ 8|8 \+ 16), chosen by validation AUROC \(stride 4 \+ 8 \+ mirrored\/turned [01]\.\d{3}, stride 4 \+ 8 [01]\.\d{3}, stride 8 \+ 16 \+ mirrored\/turned [01]\.\d{3}, stride 8 \+ 16 [01]\.\d{3}\)/,
    );
    out.length = 0;
    expect(await cli(['models', 'list', '--type', 'grid'])).toBe(0);
    expect(out.join('\n')).toMatch(/features[\s\S]*stride (4 \+ 8|8 \+ 16) \(chosen\)/);
    const kept = services.ctx.store.models.list('grid');
    expect(kept.every((m) => JSON.stringify(m.config.roi) === JSON.stringify(ROI))).toBe(true);

    out.length = 0;
    expect(await cli(['models', 'list', '--type', 'grid'])).toBe(0);
    expect(out.join('\n')).toMatch(/region[\s\S]*0,0,128,64/);

    expect(await cli(['retrain', '--type', 'grid', '--size', String(SIZE), '--roi', 'none'])).toBe(
      0,
    );
    out.length = 0;
    expect(await cli(['models', 'list', '--type', 'grid', '--json'])).toBe(0);
    const listed = JSON.parse(out.join('\n')) as { id: number; roi: unknown; createdAt: string }[];
    const newest = listed.reduce((a, b) => (a.id > b.id ? a : b));
    expect(newest.roi).toBeNull();
    expect(listed.filter((m) => m.roi !== null)).toHaveLength(2);
    expect(listed.find((m) => m.roi !== null)!.roi).toEqual(ROI);
  }, 180_000);
});
