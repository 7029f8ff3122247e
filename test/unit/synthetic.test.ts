// The synthetic defect generator: same seed, same bytes; masks that match the defects drawn;
// small but visible defects; MVTec AD layout; and object types that look like themselves.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliContext } from '../../src-main/cli/command.js';
import { command as synth } from '../../src-main/cli/synth.js';
import { writeContactSheet } from '../../src-main/data/synthetic/contact-sheet.js';
import {
  generateDataset,
  planSplits,
  type SynthSummary,
} from '../../src-main/data/synthetic/generate.js';
import { productTypes, renderSample } from '../../src-main/data/synthetic/sample.js';
import { BadArgumentError } from '../../src-main/shared/errors.js';

const typeNames = productTypes.map((t) => t.name);

async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .sort();
}

async function fingerprints(root: string): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  for (const file of await listFiles(root)) {
    map.set(
      file,
      createHash('sha256')
        .update(await readFile(join(root, file)))
        .digest('hex'),
    );
  }
  return map;
}

/** Pixels where any channel differs between two RGB images. */
function changedPixels(a: Uint8Array, b: Uint8Array): Uint8Array {
  const changed = new Uint8Array(a.length / 3);
  for (let i = 0; i < changed.length; i++) {
    const j = i * 3;
    changed[i] = a[j] !== b[j] || a[j + 1] !== b[j + 1] || a[j + 2] !== b[j + 2] ? 1 : 0;
  }
  return changed;
}

function dilate(mask: Uint8Array, size: number, radius: number): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (!mask[y * size + x]) continue;
      for (let yy = Math.max(0, y - radius); yy <= Math.min(size - 1, y + radius); yy++) {
        for (let xx = Math.max(0, x - radius); xx <= Math.min(size - 1, x + radius); xx++)
          out[yy * size + xx] = 1;
      }
    }
  }
  return out;
}

function meanColour(image: Uint8Array): [number, number, number] {
  const sum = [0, 0, 0];
  for (let i = 0; i < image.length; i++) sum[i % 3]! += image[i]!;
  const n = image.length / 3;
  return [sum[0]! / n / 255, sum[1]! / n / 255, sum[2]! / n / 255];
}

/** Mean absolute difference between horizontal neighbours: how busy the texture is. */
function busyness(image: Uint8Array, size: number): number {
  let sum = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 1; x < size; x++)
      sum += Math.abs(image[(y * size + x) * 3 + 1]! - image[(y * size + x - 1) * 3 + 1]!);
  }
  return sum / (size * (size - 1)) / 255;
}

describe('synthetic dataset on disk', () => {
  let work: string;
  let first: SynthSummary;
  const options = { seed: 7, perType: 4, size: 64 };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'defectscope-synth-'));
    first = await generateDataset(join(work, 'a'), options);
    await generateDataset(join(work, 'b'), options);
    await generateDataset(join(work, 'c'), { ...options, seed: 8 });
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('writes the same bytes for the same seed', async () => {
    const a = await fingerprints(join(work, 'a'));
    const b = await fingerprints(join(work, 'b'));
    expect(a.size).toBeGreaterThan(0);
    expect([...b.entries()]).toEqual([...a.entries()]);
  });

  it('draws different images for a different seed', async () => {
    const a = await fingerprints(join(work, 'a'));
    const c = await fingerprints(join(work, 'c'));
    expect([...c.keys()]).toEqual([...a.keys()]);
    const images = [...a.keys()].filter((file) => !file.endsWith('_mask.png'));
    const same = images.filter((file) => a.get(file) === c.get(file));
    expect(same).toEqual([]);
  });

  it('lays out every type in MVTec AD folders with the planned counts', async () => {
    const files = await listFiles(join(work, 'a'));
    expect(first.types.map((t) => t.name)).toEqual(typeNames);
    for (const type of productTypes) {
      const plan = planSplits(4, type.defectKinds);
      const under = (folder: string) =>
        files.filter((f) => f.startsWith(`${type.name}/${folder}/`));
      expect(under('train/good')).toHaveLength(4);
      expect(under('test/good')).toHaveLength(2);
      expect(under('train/good')[0]).toBe(`${type.name}/train/good/000.png`);
      for (const { kind, count } of plan.testDefect) {
        expect(count).toBeGreaterThan(0);
        const images = under(`test/${kind}`);
        const masks = under(`ground_truth/${kind}`);
        expect(images).toHaveLength(count);
        expect(masks).toEqual(
          images.map((f) =>
            f.replace(`/test/${kind}/`, `/ground_truth/${kind}/`).replace('.png', '_mask.png'),
          ),
        );
      }
      const summary = first.types.find((t) => t.name === type.name)!;
      expect(summary.counts).toEqual({
        trainGood: 4,
        testGood: 2,
        testDefect: plan.testDefect.reduce((n, d) => n + d.count, 0),
      });
      expect(summary.defectKinds).toEqual([...type.defectKinds]);
    }
  });

  it('writes 8-bit single-channel masks of 0 and 255, the size of their images', async () => {
    const root = join(work, 'a');
    const masks = (await listFiles(root)).filter((f) => f.endsWith('_mask.png'));
    expect(masks.length).toBeGreaterThanOrEqual(
      productTypes.reduce((n, t) => n + t.defectKinds.length, 0),
    );
    for (const file of masks) {
      const meta = await sharp(join(root, file)).metadata();
      expect([meta.width, meta.height, meta.channels, meta.depth]).toEqual([64, 64, 1, 'uchar']);
      const data = await sharp(join(root, file)).extractChannel(0).raw().toBuffer();
      expect(new Set(data)).toEqual(new Set([0, 255]));
      const image = await sharp(
        join(root, file.replace('ground_truth', 'test').replace('_mask.png', '.png')),
      ).metadata();
      expect([image.width, image.height, image.channels]).toEqual([64, 64, 3]);
    }
  });

  it('refuses to write over a type folder that already holds files', async () => {
    await expect(
      generateDataset(join(work, 'a'), { ...options, types: ['pill'] }),
    ).rejects.toBeInstanceOf(BadArgumentError);
  });
});

describe('defect rendering', () => {
  it('masks exactly the pixels a defect changed, give or take two pixels', () => {
    for (const type of productTypes) {
      for (const kind of type.defectKinds) {
        for (const [index, size] of [
          [3, 256],
          [11, 128],
        ] as const) {
          const good = renderSample(type.name, 5, index, { size });
          const bad = renderSample(type.name, 5, index, { size, defect: kind });
          const mask = bad.mask!;
          const changed = changedPixels(good.image, bad.image);
          const near = dilate(mask, size, 2);
          let outside = 0;
          let masked = 0;
          let maskedAndChanged = 0;
          for (let i = 0; i < changed.length; i++) {
            if (changed[i] && !near[i]) outside++;
            if (mask[i]) {
              masked++;
              if (changed[i]) maskedAndChanged++;
            }
          }
          const what = `${type.name}/${kind} #${index} at ${size}px`;
          expect(masked, what).toBeGreaterThan(0);
          expect(outside, what).toBe(0);
          expect(maskedAndChanged / masked, what).toBeGreaterThan(0.9);
        }
      }
    }
  });

  it('keeps defects small but visible: mostly between 0.1 % and 5 % of the image', () => {
    for (const type of productTypes) {
      const areas: number[] = [];
      for (let i = 0; i < 12; i++) {
        const kind = type.defectKinds[i % type.defectKinds.length]!;
        areas.push(renderSample(type.name, 9, 500 + i, { size: 128, defect: kind }).defectArea);
      }
      const inRange = areas.filter((a) => a >= 0.001 && a <= 0.05);
      expect(inRange.length / areas.length, type.name).toBeGreaterThanOrEqual(0.9);
      expect(Math.max(...areas), type.name).toBeLessThan(0.1);
    }
  });

  it('renders the same sample the same way every time', () => {
    const once = renderSample('leather', 3, 2, { size: 96, defect: 'cut' });
    const again = renderSample('leather', 3, 2, { size: 96, defect: 'cut' });
    expect(Buffer.from(again.image).equals(Buffer.from(once.image))).toBe(true);
    expect(Buffer.from(again.mask!).equals(Buffer.from(once.mask!))).toBe(true);
  });

  it('moves, turns and relights good images so no two are alike', () => {
    for (const type of productTypes) {
      const images = [0, 1, 2, 3].map((i) => renderSample(type.name, 1, i, { size: 128 }).image);
      for (let a = 0; a < images.length; a++) {
        for (let b = a + 1; b < images.length; b++) {
          let sum = 0;
          for (let i = 0; i < images[a]!.length; i++)
            sum += Math.abs(images[a]![i]! - images[b]![i]!);
          expect(sum / images[a]!.length, `${type.name} ${a} vs ${b}`).toBeGreaterThan(3);
        }
      }
    }
  });

  it('gives every type a look of its own', () => {
    const looks = productTypes.map((type) => {
      const images = [0, 1, 2].map((i) => renderSample(type.name, 1, i, { size: 128 }).image);
      const colour = [0, 1, 2].map(
        (c) => images.reduce((s, im) => s + meanColour(im)[c]!, 0) / images.length,
      );
      const busy = images.reduce((s, im) => s + busyness(im, 128), 0) / images.length;
      return { name: type.name, features: [...colour, busy * 4] };
    });
    for (let a = 0; a < looks.length; a++) {
      for (let b = a + 1; b < looks.length; b++) {
        const distance = Math.hypot(
          ...looks[a]!.features.map((f, k) => f - looks[b]!.features[k]!),
        );
        expect(distance, `${looks[a]!.name} vs ${looks[b]!.name}`).toBeGreaterThan(0.05);
      }
    }
  });
});

describe('defectscope synth', () => {
  let work: string;
  const lines: string[] = [];
  const ctx: CliContext = { out: (l) => lines.push(l), err: () => undefined, interactive: false };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'defectscope-synth-cli-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('prints the summary as JSON with --json', async () => {
    lines.length = 0;
    const args = ['--per-type', '2', '--size', '48', '--types', 'wood,nut', '--json'];
    const code = await synth.run(
      {
        values: { 'per-type': '2', size: '48', types: 'wood,nut', json: true },
        positionals: [join(work, 'ds')],
      },
      ctx,
    );
    expect(code, args.join(' ')).toBe(0);
    const summary = JSON.parse(lines.join('\n')) as SynthSummary;
    expect(summary.types.map((t) => t.name)).toEqual(['wood', 'nut']);
    expect(summary.size).toBe(48);
    expect(summary.types[0]!.counts.trainGood).toBe(2);
  });

  it('prints a table of what it wrote', async () => {
    lines.length = 0;
    await synth.run(
      {
        values: { 'per-type': '1', size: '32', types: 'pill' },
        positionals: [join(work, 'table')],
      },
      ctx,
    );
    expect(lines[0]).toMatch(
      /^type\s+kind\s+train\/good\s+test\/good\s+test\/defect\s+defect kinds$/,
    );
    expect(lines[1]).toMatch(/^pill\s+object\s+1\s+1\s+4\s+chip, crack, contamination, stain$/);
  });

  it('rejects a bad size, an unknown type and a missing output folder', async () => {
    const run = (values: Record<string, string>, positionals = [join(work, 'x')]) =>
      synth.run({ values, positionals }, ctx);
    await expect(run({ size: '12' })).rejects.toBeInstanceOf(BadArgumentError);
    await expect(run({ size: '2.5' })).rejects.toBeInstanceOf(BadArgumentError);
    await expect(run({ 'per-type': '0' })).rejects.toBeInstanceOf(BadArgumentError);
    await expect(run({ types: 'wood,teapot' })).rejects.toThrow(/teapot.*grid, wood/);
    await expect(run({}, [])).rejects.toBeInstanceOf(BadArgumentError);
  });

  it('draws a contact sheet of good and defective samples', async () => {
    const file = join(work, 'sheet.png');
    const sheet = await writeContactSheet(file, {
      types: ['pill', 'grid'],
      size: 64,
      good: 1,
      defects: 1,
    });
    const meta = await sharp(file).metadata();
    expect([meta.width, meta.height]).toEqual([sheet.width, sheet.height]);
    expect(sheet.height).toBeGreaterThan(2 * 64);
  });
});
