import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { turbo, writeHeatmapOverlay } from '../../src-main/data/heatmap.js';
import { ImageError } from '../../src-main/shared/errors.js';
import { bmp24, tempDir, writeRgb } from '../fixtures/images.js';

describe('heatmap overlay', () => {
  it('runs Turbo from dark blue through yellow-green to dark red', () => {
    const [r0, , b0] = turbo(0.15);
    const [r1, , b1] = turbo(1);
    expect(b0).toBeGreaterThan(r0);
    expect(r1).toBeGreaterThan(b1);
    expect(turbo(-3)).toEqual(turbo(0));
  });

  it('colours the anomalous corner where it is and leaves the normal part of the image as it was', async () => {
    const dir = tempDir();
    await writeRgb(join(dir, 'part.png'), 80, 60, 'png');
    // 8×6 map: hot in the bottom-right 2×2 cells, zero elsewhere.
    const data = new Float32Array(48);
    for (const i of [38, 39, 46, 47]) data[i] = 10;
    await writeHeatmapOverlay(
      join(dir, 'part.png'),
      { width: 8, height: 6, data },
      join(dir, 'out', 'heat.png'),
      {
        normalise: (raw) => Math.min(1, raw / 10),
      },
    );
    const original = await sharp(join(dir, 'part.png')).raw().toBuffer();
    const { data: overlay, info } = await sharp(join(dir, 'out', 'heat.png'))
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.format]).toEqual([80, 60, 'raw']);
    const pixel = (buffer: Buffer, x: number, y: number): [number, number, number] => {
      const at = (y * 80 + x) * 3;
      return [buffer[at]!, buffer[at + 1]!, buffer[at + 2]!];
    };
    // Hot corner: blended toward Turbo's deep red. Far corner and middle top: unchanged.
    const [r, g, b] = pixel(overlay, 75, 55);
    const [r0, g0, b0] = pixel(original, 75, 55);
    expect(Math.abs(r - r0) + Math.abs(g - g0) + Math.abs(b - b0)).toBeGreaterThan(100);
    const [hr, hg, hb] = turbo(1);
    expect(Math.abs(r - hr) + Math.abs(g - hg) + Math.abs(b - hb)).toBeLessThan(
      Math.abs(r0 - hr) + Math.abs(g0 - hg) + Math.abs(b0 - hb),
    );
    expect(pixel(overlay, 3, 3)).toEqual(pixel(original, 3, 3));
    expect(pixel(overlay, 40, 10)).toEqual(pixel(original, 40, 10));
  });

  it('draws on BMP images and on photos turned upright by their EXIF orientation', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'part.bmp'),
      bmp24(30, 20, () => [90, 90, 90]),
    );
    const map = { width: 3, height: 2, data: new Float32Array([0, 0, 0, 0, 0, 10]) };
    const normalise = (raw: number) => Math.min(1, raw / 10);
    await writeHeatmapOverlay(join(dir, 'part.bmp'), map, join(dir, 'bmp.png'), { normalise });
    expect(await sharp(join(dir, 'bmp.png')).metadata()).toMatchObject({ width: 30, height: 20 });
    await sharp(Buffer.alloc(30 * 20 * 3, 90), { raw: { width: 30, height: 20, channels: 3 } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toFile(join(dir, 'side.jpg'));
    await writeHeatmapOverlay(join(dir, 'side.jpg'), map, join(dir, 'side.png'), { normalise });
    expect(await sharp(join(dir, 'side.png')).metadata()).toMatchObject({ width: 20, height: 30 });
  });

  it('reports an unreadable image as a per-file error', async () => {
    const dir = tempDir();
    await expect(
      writeHeatmapOverlay(
        join(dir, 'gone.png'),
        { width: 1, height: 1, data: new Float32Array(1) },
        join(dir, 'x.png'),
        {
          normalise: (v) => v,
        },
      ),
    ).rejects.toBeInstanceOf(ImageError);
  });
});
