import { mkdirSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { importDataset } from '../../src-main/data/importers/import.js';
import { detectLayout } from '../../src-main/data/importers/scan.js';
import { openStore } from '../../src-main/store/store.js';
import { tempDir, writeMixedFolder, writeRgb } from '../fixtures/images.js';

let shade = 0;
/** Distinct content per call, so every file has its own hash. */
async function image(path: string, size = 24): Promise<void> {
  mkdirSync(join(path, '..'), { recursive: true });
  shade = (shade + 7) % 250;
  await sharp({
    create: {
      width: size,
      height: size,
      channels: 3,
      background: { r: shade, g: 255 - shade, b: shade / 2 },
    },
  })
    .png()
    .toFile(path);
}

async function mvtecType(root: string, type: string): Promise<void> {
  for (let i = 0; i < 3; i++) await image(join(root, type, 'train', 'good', `00${i}.png`));
  await image(join(root, type, 'test', 'good', '000.png'));
  for (const kind of ['scratch', 'hole']) {
    await image(join(root, type, 'test', kind, '000.png'));
    await image(join(root, type, 'ground_truth', kind, '000_mask.png'));
  }
}

describe('dataset import', () => {
  it('imports the MVTec AD layout with splits, labels, defect kinds and masks', async () => {
    const root = tempDir();
    await mvtecType(root, 'tile');
    await mvtecType(root, 'nut');
    writeFileSync(join(root, 'README.txt'), 'dataset notes');
    expect(detectLayout(root)).toBe('mvtec');
    const store = openStore(tempDir());
    const summary = await importDataset(store, root);
    expect(summary).toMatchObject({
      layout: 'mvtec',
      added: 12,
      unchanged: 0,
      labelsAdded: 12,
      masksAdded: 4,
      failed: [],
    });
    const types = store.objectTypes.summaries();
    expect(types.map((t) => t.name)).toEqual(['nut', 'tile']);
    expect(types[1]).toMatchObject({
      images: 6,
      counts: { train: { good: 3, defect: 0 }, test: { good: 1, defect: 2 } },
      defectKinds: ['hole', 'scratch'],
      masks: 2,
    });
    const defects = store.images.list({ objectTypes: ['tile'], label: 'defect' });
    expect(defects.map((d) => d.defectKind).sort()).toEqual(['hole', 'scratch']);
    expect(defects.every((d) => d.maskPath?.endsWith('000_mask.png'))).toBe(true);
    store.close();
  });

  it('importing the same files again adds nothing, and a moved file keeps its record', async () => {
    const root = tempDir();
    await mvtecType(root, 'tile');
    const store = openStore(tempDir());
    await importDataset(store, join(root, 'tile'));
    const again = await importDataset(store, join(root, 'tile'));
    expect(again).toMatchObject({ added: 0, unchanged: 6, labelsAdded: 0, masksAdded: 0 });
    expect(store.db.prepare('SELECT COUNT(*) AS n FROM labels').get()).toEqual({ n: 6 });
    store.close();
  });

  it('imports labeled folders: good/, defect/ and named defect kinds', async () => {
    const root = tempDir();
    await image(join(root, 'good', 'a.png'));
    await image(join(root, 'good', 'b.png'));
    await image(join(root, 'defect', 'c.png'));
    await image(join(root, 'dent', 'd.png'));
    expect(detectLayout(root)).toBe('folders');
    const store = openStore(tempDir());
    const summary = await importDataset(store, root, { objectType: 'panel' });
    expect(summary).toMatchObject({ layout: 'folders', added: 4, objectTypes: ['panel'] });
    const [panel] = store.objectTypes.summaries();
    expect(panel!.counts.unsplit).toEqual({ good: 2, defect: 2, unlabeled: 0 });
    expect(panel!.defectKinds).toEqual(['dent']);
    store.close();
  });

  it("imports a good/ or ng/ folder pointed at itself with its label (an ng/ folder's subfolders as kinds), typed by its parent, and labels images imported unlabeled before", async () => {
    const root = tempDir();
    await image(join(root, 'impeller', 'OK', 'a.png'));
    await image(join(root, 'impeller', 'OK', 'shift2', 'b.png'));
    await image(join(root, 'impeller', 'ng', 'c.png'));
    await image(join(root, 'impeller', 'ng', 'porosity', 'd.png'));
    const good = join(root, 'impeller', 'OK');
    const store = openStore(tempDir());
    const unlabeled = await importDataset(store, good, {
      layout: 'unlabeled',
      objectType: 'impeller',
    });
    expect(unlabeled).toMatchObject({ layout: 'unlabeled', added: 2, labelsAdded: 0 });
    expect(detectLayout(good)).toBe('folders');
    expect(await importDataset(store, good)).toMatchObject({
      layout: 'folders',
      added: 0,
      unchanged: 2,
      labelsAdded: 2,
      objectTypes: ['impeller'],
    });
    // A defect folder's subfolders are kinds of defect.
    expect(await importDataset(store, join(root, 'impeller', 'ng'))).toMatchObject({
      layout: 'folders',
      added: 2,
      labelsAdded: 2,
      objectTypes: ['impeller'],
    });
    const [impeller] = store.objectTypes.summaries();
    expect(impeller!.counts.unsplit).toEqual({ good: 2, defect: 2, unlabeled: 0 });
    expect(impeller!.defectKinds).toEqual(['porosity']);
    store.close();
  });

  it('records images by their absolute path and knows a labeled folder given as a relative path or `.`', async () => {
    const root = tempDir();
    await image(join(root, 'impeller', 'good', 'a.png'));
    await image(join(root, 'impeller', 'good', 'b.png'));
    // As `import .` run inside the good/ folder names it: relative, its name not in the path.
    const dot = `${relative(process.cwd(), join(root, 'impeller', 'good'))}/.`;
    expect(detectLayout(dot)).toBe('folders');
    const store = openStore(tempDir());
    expect(await importDataset(store, dot)).toMatchObject({
      layout: 'folders',
      added: 2,
      labelsAdded: 2,
      objectTypes: ['impeller'],
    });
    const images = store.images.list({ objectTypes: ['impeller'] });
    expect(images.map((i) => i.path).sort()).toEqual([
      join(root, 'impeller', 'good', 'a.png'),
      join(root, 'impeller', 'good', 'b.png'),
    ]);
    expect(images.every((i) => isAbsolute(i.path))).toBe(true);
    store.close();
  });

  it('imports an unlabeled folder recursively without labels', async () => {
    const root = tempDir();
    await image(join(root, 'x.png'));
    await image(join(root, 'day2', 'y.png'));
    const store = openStore(tempDir());
    const summary = await importDataset(store, root, { objectType: 'camera-3' });
    expect(summary).toMatchObject({ layout: 'unlabeled', added: 2, labelsAdded: 0 });
    expect(store.images.list({ label: 'unlabeled' })).toHaveLength(2);
    store.close();
  });

  it('imports the good files of a folder holding corrupt, zero-byte, text and 30000×30000 files, naming each bad one', async () => {
    const root = tempDir();
    const { good, bad } = await writeMixedFolder(root);
    writeFileSync(join(root, 'notes.txt'), 'not an image');
    const store = openStore(tempDir());
    const summary = await importDataset(store, root, { objectType: 'mixed' });
    expect(summary.added).toBe(good.length);
    const byName = Object.fromEntries(
      summary.failed.map((f) => [f.path.slice(root.length + 1), f]),
    );
    expect(Object.keys(byName).sort()).toEqual([...Object.keys(bad), 'notes.txt'].sort());
    for (const [name, problem] of Object.entries(bad)) {
      expect(byName[name]!.problem).toBe(problem);
      expect(byName[name]!.message).toContain(name);
    }
    store.close();
  });

  it('rejects a mask whose size differs from its image but still imports the image', async () => {
    const root = tempDir();
    await image(join(root, 'part', 'train', 'good', '000.png'));
    await image(join(root, 'part', 'test', 'crack', '000.png'), 24);
    mkdirSync(join(root, 'part', 'ground_truth', 'crack'), { recursive: true });
    await writeRgb(join(root, 'part', 'ground_truth', 'crack', '000_mask.png'), 10, 10, 'png');
    const store = openStore(tempDir());
    const summary = await importDataset(store, root);
    expect(summary.added).toBe(2);
    expect(summary.masksAdded).toBe(0);
    expect(summary.failed[0]!.message).toMatch(/mask is 10×10 but its image is 24×24/);
    store.close();
  });
});
