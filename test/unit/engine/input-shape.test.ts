import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateDataset } from '../../../src-main/data/synthetic/generate.js';
import { initBackend } from '../../../src-main/engine/backend.js';
import { runEvaluation } from '../../../src-main/engine/evaluation.js';
import { inputShapeOf, sharedAspect } from '../../../src-main/engine/input-shape.js';
import { tempDir, writeRgb } from '../../fixtures/images.js';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

describe("a type's own image shape", () => {
  beforeAll(() => initBackend());

  it('keeps the short side and follows the aspect on the long side, in whole strides', () => {
    expect(inputShapeOf(224)).toBe(224);
    expect(inputShapeOf(224, 0.4)).toEqual([224, 560]);
    expect(inputShapeOf(224, 2.5)).toEqual([560, 224]);
    expect(inputShapeOf(64, 0.95)).toEqual([64, 64]);
  });

  it('reads the aspect one camera gives its images, and squares variable crops', async () => {
    const dir = tempDir();
    const tall = [0, 1, 2].map((i) => join(dir, `tall-${i}.png`));
    for (const path of tall) await writeRgb(path, 100, 250, 'png');
    writeFileSync(join(dir, 'broken.png'), 'not an image');
    expect(await sharedAspect([...tall, join(dir, 'broken.png')])).toBeCloseTo(0.4, 6);

    const square = join(dir, 'square.png');
    await writeRgb(square, 200, 200, 'png');
    expect(await sharedAspect([...tall, square])).toBe(1);
    const almost = join(dir, 'almost.png');
    await writeRgb(almost, 210, 200, 'png');
    expect(await sharedAspect([almost])).toBe(1);
    expect(await sharedAspect([])).toBe(1);
  });

  it('fits and scores a tall product at its own aspect, masks and maps included', async () => {
    // Synthetic nuts stretched to a 2 : 5 camera frame, masks alike.
    const square = tempDir();
    await generateDataset(square, { seed: 4, perType: 12, size: 96, types: ['nut'] });
    const tall = tempDir();
    for (const path of files(square)) {
      const target = join(tall, relative(square, path));
      mkdirSync(dirname(target), { recursive: true });
      if (path.endsWith('.png'))
        await sharp(path).resize(80, 200, { fit: 'fill' }).png().toFile(target);
    }
    const report = await runEvaluation({
      root: tall,
      pretrainTypes: [],
      testTypes: ['nut'],
      detector: 'one-class',
      encoder: 'mobilenetv3',
      inputSize: 64,
      epochs: 1,
      batchSize: 8,
      seed: 1,
    });
    const [nut] = report.types;
    expect(nut!.input_shape).toEqual([64, 160]);
    expect(nut!.failed_images).toBe(0);
    expect(nut!.image_auroc).toBeGreaterThan(0.8);
    expect(nut!.pixel_auroc).toBeGreaterThan(0.8);
  });
});
