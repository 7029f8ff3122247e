import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { writeHeatmapOverlay } from '../../src-main/data/heatmap.js';
import { decodeImage } from '../../src-main/data/image-io.js';
import { sharedAspect } from '../../src-main/engine/input-shape.js';
import { decodedBatches } from '../../src-main/engine/decoded-batches.js';
import { BadArgumentError, ImageError } from '../../src-main/shared/errors.js';
import { clipRoi, formatRoi, modelRoi, parseRoi } from '../../src-main/shared/roi.js';
import { tempDir, writeRgb } from '../fixtures/images.js';

describe('a region of interest', () => {
  it('reads x,y,w,h in whole pixels, and none to clear', () => {
    expect(parseRoi('10,20,300,40')).toEqual({ x: 10, y: 20, width: 300, height: 40 });
    expect(parseRoi(' 0, 0 ,5,5 ')).toEqual({ x: 0, y: 0, width: 5, height: 5 });
    expect(parseRoi('none')).toBeNull();
    expect(formatRoi(parseRoi('1,2,3,4')!)).toBe('1,2,3,4');
  });

  it('refuses what is not a rectangle of whole pixels, saying what to type', () => {
    for (const text of [
      '1,2,3',
      '1,2,3,4,5',
      '1.5,2,3,4',
      'a,b,c,d',
      '',
      '1,2,0,4',
      '1,2,3,-4',
      '-1,0,3,4',
    ]) {
      expect(() => parseRoi(text), text).toThrow(BadArgumentError);
    }
    expect(() => parseRoi('1,2,0,4')).toThrow(/w and h must be more than 0/);
    expect(() => parseRoi('1,2,3')).toThrow(/^--roi takes x,y,w,h/);
    // The app's form names its own field.
    expect(() => parseRoi('1,2,3', 'Region')).toThrow(/^Region takes x,y,w,h/);
  });

  it('is clipped to an image it overhangs, and misses one it lies outside of', () => {
    const roi = { x: 50, y: 10, width: 100, height: 100 };
    expect(clipRoi(roi, 200, 200)).toEqual(roi);
    expect(clipRoi(roi, 120, 60)).toEqual({ x: 50, y: 10, width: 70, height: 50 });
    expect(clipRoi(roi, 50, 200)).toBeNull();
    expect(clipRoi(roi, 200, 10)).toBeNull();
  });

  it("is read back from a model's config, and only when it is a rectangle", () => {
    expect(modelRoi({ roi: { x: 1, y: 2, width: 3, height: 4 } })).toEqual({
      x: 1,
      y: 2,
      width: 3,
      height: 4,
    });
    expect(modelRoi({ falseAlarmRate: 0.02 })).toBeNull();
    expect(modelRoi({ roi: { x: 1, y: 2, width: 0, height: 4 } })).toBeNull();
    expect(modelRoi(undefined)).toBeNull();
  });

  it('decodes only the part: cropped before resizing, clipped to the image, an error when it misses', async () => {
    const dir = tempDir();
    const path = join(dir, 'part.png');
    // Red grows left to right over 0..99, green top to bottom over 0..49.
    await writeRgb(path, 100, 50, 'png');
    const whole = await decodeImage(path);
    const part = await decodeImage(path, { roi: { x: 60, y: 10, width: 20, height: 30 } });
    expect([part.width, part.height, part.rawWidth, part.rawHeight]).toEqual([20, 30, 100, 50]);
    // Its top-left pixel is the whole image's pixel (60, 10).
    expect(part.data[0]).toBeCloseTo(whole.data[(10 * 100 + 60) * 3]!, 5);
    expect(part.data[1]).toBeCloseTo(whole.data[(10 * 100 + 60) * 3 + 1]!, 5);
    // Resized after cropping: every red value stays within the region's columns.
    const sized = await decodeImage(path, {
      size: [8, 8],
      roi: { x: 60, y: 10, width: 20, height: 30 },
    });
    const reds = Array.from({ length: 64 }, (_, i) => sized.data[i * 3]!);
    expect(Math.min(...reds)).toBeGreaterThan((255 * 58) / 99 / 255);
    expect(Math.max(...reds)).toBeLessThan((255 * 81) / 99 / 255);
    // Overhanging: clipped to what the image has.
    const clipped = await decodeImage(path, { roi: { x: 90, y: 40, width: 50, height: 50 } });
    expect([clipped.width, clipped.height]).toEqual([10, 10]);
    const outside = decodeImage(path, { roi: { x: 100, y: 0, width: 10, height: 10 } });
    await expect(outside).rejects.toBeInstanceOf(ImageError);
    await expect(outside).rejects.toMatchObject({ problem: 'outside-roi' });
  });

  it('reports an image the region misses and decodes the rest of the batch', async () => {
    const dir = tempDir();
    await writeRgb(join(dir, 'big.png'), 120, 80, 'png');
    await writeRgb(join(dir, 'small.png'), 30, 30, 'png');
    const failures: ImageError[] = [];
    const shapes: number[][] = [];
    const before = tf.memory().numTensors;
    for await (const batch of decodedBatches(
      [join(dir, 'small.png'), join(dir, 'big.png')],
      [32, 16],
      {
        roi: { x: 40, y: 20, width: 64, height: 32 },
        onFailure: (f) => failures.push(f),
      },
    )) {
      shapes.push(batch.images.shape);
      expect(batch.paths).toEqual([join(dir, 'big.png')]);
    }
    expect(shapes).toEqual([[1, 16, 32, 3]]);
    expect(tf.memory().numTensors).toBe(before);
    expect(failures.map((f) => [f.path, f.problem])).toEqual([
      [join(dir, 'small.png'), 'outside-roi'],
    ]);
  });

  it("gives the type the region's aspect, not the whole image's", async () => {
    const dir = tempDir();
    const paths = [join(dir, 'a.png'), join(dir, 'b.png')];
    for (const path of paths) await writeRgb(path, 100, 100, 'png');
    expect(await sharedAspect(paths)).toBe(1);
    expect(await sharedAspect(paths, { x: 0, y: 20, width: 100, height: 40 })).toBeCloseTo(2.5, 6);
    // Clipped: a region overhanging a square image to the right is as wide as the image has.
    expect(await sharedAspect(paths, { x: 50, y: 0, width: 500, height: 25 })).toBeCloseTo(2, 6);
    // Within 10 % of square it is scored square, as whole images are.
    expect(await sharedAspect(paths, { x: 0, y: 0, width: 52, height: 50 })).toBe(1);
  });

  it('draws the map on the whole image at the region, outlined, and leaves the outside uncoloured', async () => {
    const dir = tempDir();
    const path = join(dir, 'part.png');
    await writeRgb(path, 80, 60, 'png');
    // A 4×3 map of the region (40, 30, 40 × 30), hot everywhere.
    const data = new Float32Array(12).fill(10);
    await writeHeatmapOverlay(path, { width: 4, height: 3, data }, join(dir, 'heat.png'), {
      normalise: (raw) => Math.min(1, raw / 10),
      roi: { x: 40, y: 30, width: 40, height: 30 },
    });
    const original = await sharp(path).raw().toBuffer();
    const { data: overlay, info } = await sharp(join(dir, 'heat.png'))
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([80, 60]);
    const pixel = (buffer: Buffer, x: number, y: number) =>
      Array.from(buffer.subarray((y * 80 + x) * 3, (y * 80 + x) * 3 + 3));
    const changed = (x: number, y: number) =>
      pixel(overlay, x, y).reduce((sum, v, c) => sum + Math.abs(v - pixel(original, x, y)[c]!), 0);
    // Inside: coloured. Outside, even next to the region: as it was.
    expect(changed(60, 45)).toBeGreaterThan(100);
    // The region's edge is outlined: lighter than the image there, unlike the heat inside.
    const edge = pixel(overlay, 40, 45);
    expect(edge.reduce((a, b) => a + b)).toBeGreaterThan(
      pixel(original, 40, 45).reduce((a, b) => a + b),
    );
    for (const [x, y] of [
      [10, 10],
      [39, 45],
      [60, 29],
      [20, 50],
    ] as const)
      expect(pixel(overlay, x, y), `${x},${y}`).toEqual(pixel(original, x, y));
  });
});
