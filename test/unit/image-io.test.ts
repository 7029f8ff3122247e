import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage, hashFile, probeImage, writeThumbnail } from '../../src-main/data/image-io.js';
import { ImageError } from '../../src-main/shared/errors.js';
import {
  bmp24,
  bmpGrey,
  hugePngHeader,
  tempDir,
  writeMixedFolder,
  writeRgb,
} from '../fixtures/images.js';

async function problemOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ImageError);
    return (error as ImageError).problem;
  }
  throw new Error('expected an ImageError');
}

describe('image I/O', () => {
  it('decodes PNG, JPEG, WebP, TIFF and BMP to RGB floats at the requested size, keeping the raw size', async () => {
    const dir = tempDir();
    const { good } = await writeMixedFolder(dir);
    for (const path of good) {
      const image = await decodeImage(path, { size: 16 });
      expect(image.width).toBe(16);
      expect(image.data).toHaveLength(16 * 16 * 3);
      expect(Math.min(...image.data)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...image.data)).toBeLessThanOrEqual(1);
      expect(image.rawWidth).toBe(path.endsWith('.bmp') ? 20 : 40);
    }
  });

  it('keeps channel order: red grows left to right, green top to bottom', async () => {
    const dir = tempDir();
    await writeRgb(join(dir, 'g.png'), 32, 32, 'png');
    const { data } = await decodeImage(join(dir, 'g.png'));
    const at = (x: number, y: number, c: number) => data[(y * 32 + x) * 3 + c]!;
    expect(at(31, 0, 0)).toBeCloseTo(1, 2);
    expect(at(0, 0, 0)).toBeCloseTo(0, 2);
    expect(at(0, 31, 1)).toBeCloseTo(1, 2);
    expect(at(5, 5, 2)).toBeCloseTo(128 / 255, 2);
  });

  it('turns a photo upright as its EXIF orientation says, as viewers and the browser show it', async () => {
    const dir = tempDir();
    // Stored 40 × 20, red left half, blue right half; orientation 6: shown turned 90° clockwise,
    // 20 × 40 with red on top.
    const pixels = Buffer.alloc(40 * 20 * 3);
    for (let y = 0; y < 20; y++)
      for (let x = 0; x < 40; x++) pixels[(y * 40 + x) * 3 + (x < 20 ? 0 : 2)] = 255;
    const path = join(dir, 'side.jpg');
    await sharp(pixels, { raw: { width: 40, height: 20, channels: 3 } })
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toFile(path);
    expect((await sharp(path).metadata()).orientation).toBe(6);
    expect(await probeImage(path)).toMatchObject({ width: 20, height: 40 });
    const image = await decodeImage(path);
    expect([image.width, image.height, image.rawWidth, image.rawHeight]).toEqual([20, 40, 20, 40]);
    const at = (x: number, y: number) =>
      Array.from(image.data.slice((y * 20 + x) * 3, (y * 20 + x) * 3 + 3));
    expect(at(10, 5)[0]).toBeGreaterThan(0.9);
    expect(at(10, 34)[2]).toBeGreaterThan(0.9);
    // A region of interest is in the upright image's pixels: the top part is all red (JPEG's
    // chroma blurs the few rows at the seam).
    const top = await decodeImage(path, { roi: { x: 0, y: 0, width: 20, height: 16 } });
    for (let i = 0; i < top.data.length; i += 3) expect(top.data[i]).toBeGreaterThan(0.8);
  });

  it('reads the classic 24-bit BMP bottom-up rows and grey BMPs', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'rgb.bmp'),
      bmp24(3, 2, (x, y) => (y === 0 ? [255, 0, 0] : [0, 0, 255 - x])),
    );
    const rgb = await decodeImage(join(dir, 'rgb.bmp'));
    expect(Array.from(rgb.data.slice(0, 3))).toEqual([1, 0, 0]);
    expect(rgb.data[3 * 3 + 2]).toBeCloseTo(1, 5);
    writeFileSync(join(dir, 'grey.bmp'), bmpGrey(4, 4, 51));
    const grey = await decodeImage(join(dir, 'grey.bmp'));
    expect(Array.from(grey.data.slice(0, 3)).map((v) => Math.round(v * 255))).toEqual([51, 51, 51]);
    expect((await probeImage(join(dir, 'grey.bmp'))).format).toBe('bmp');
  });

  it('reads 16-bit grey and RGBA images as RGB', async () => {
    const dir = tempDir();
    await sharp({
      create: { width: 8, height: 8, channels: 3, background: { r: 51, g: 51, b: 51 } },
    })
      .toColourspace('grey16')
      .png()
      .toFile(join(dir, 'g16.png'));
    const info = await probeImage(join(dir, 'g16.png'));
    expect(info.bitDepth).toBe(16);
    const g = await decodeImage(join(dir, 'g16.png'));
    expect(g.data[0]).toBeCloseTo(0.2, 3);
    expect(g.data[1]).toBeCloseTo(0.2, 3);

    await sharp({
      create: { width: 4, height: 4, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 1 } },
    })
      .png()
      .toFile(join(dir, 'rgba.png'));
    const rgba = await decodeImage(join(dir, 'rgba.png'));
    expect(rgba.data).toHaveLength(4 * 4 * 3);
    expect(Array.from(rgba.data.slice(0, 3))).toEqual([1, 0, 0]);
  });

  it('names each broken file and why: corrupt, empty, not an image, too large, missing', async () => {
    const dir = tempDir();
    const { bad } = await writeMixedFolder(dir);
    for (const [name, problem] of Object.entries(bad)) {
      expect(await problemOf(decodeImage(join(dir, name), { size: 16 })), name).toBe(problem);
      await expect(decodeImage(join(dir, name))).rejects.toThrow(name);
    }
    expect(await problemOf(decodeImage(join(dir, 'vanished.png')))).toBe('missing');
    expect(await problemOf(hashFile(join(dir, 'vanished.png')))).toBe('missing');
  });

  it('refuses a 30000×30000 PNG from its header, before decoding pixels', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bomb.png'), await hugePngHeader(30000, 30000));
    const started = Date.now();
    expect(await problemOf(probeImage(join(dir, 'bomb.png')))).toBe('too-large');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('writes a WebP thumbnail no larger than asked, and hashes content, not names', async () => {
    const dir = tempDir();
    await writeRgb(join(dir, 'big.png'), 600, 300, 'png');
    const info = await writeThumbnail(join(dir, 'big.png'), join(dir, 'thumbs', 'big.webp'), 128);
    expect(info).toMatchObject({ width: 600, height: 300, format: 'png' });
    const thumb = await sharp(join(dir, 'thumbs', 'big.webp')).metadata();
    expect([thumb.format, thumb.width, thumb.height]).toEqual(['webp', 128, 64]);

    await writeRgb(join(dir, 'copy.png'), 600, 300, 'png');
    expect(await hashFile(join(dir, 'copy.png'))).toBe(await hashFile(join(dir, 'big.png')));
    expect(await hashFile(join(dir, 'big.png'))).toMatch(/^[0-9a-f]{64}$/);
  });
});
