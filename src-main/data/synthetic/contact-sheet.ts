// A contact sheet of the synthetic dataset for people to judge it by eye: per object type a few
// good images, then defect images, each shown plain and with its ground-truth mask outlined in red.
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import sharp, { type OverlayOptions } from 'sharp';
import { DEFAULT_SEED, sampleIndex } from './generate.js';
import {
  DEFAULT_SIZE,
  productTypeNamed,
  productTypes,
  renderSample,
  type Sample,
} from './sample.js';

export interface ContactSheetOptions {
  seed?: number;
  /** Size the samples are rendered at (as in the dataset). */
  size?: number;
  types?: string[];
  /** Good images per row. */
  good?: number;
  /** Defect images per row (each shown twice: plain, then outlined), cycling through the kinds. */
  defects?: number;
  /** Edge of one thumbnail on the sheet, in pixels. */
  tile?: number;
}

const LABEL_WIDTH = 104;
const CAPTION_HEIGHT = 18;
const GAP = 6;
const OUTLINE: [number, number, number] = [235, 30, 30];

/** Pixels within `radius` (square neighbourhood) of a set pixel. */
function dilate(mask: Uint8Array, size: number, radius: number): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (!mask[y * size + x]) continue;
      for (let dy = -radius; dy <= radius; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= size) continue;
        for (let dx = -radius; dx <= radius; dx++) {
          const xx = x + dx;
          if (xx >= 0 && xx < size) out[yy * size + xx] = 1;
        }
      }
    }
  }
  return out;
}

async function thumbnail(sample: Sample, tile: number): Promise<Uint8Array> {
  if (sample.size === tile) return sample.image;
  const raw = { width: sample.size, height: sample.size, channels: 3 as const };
  return sharp(sample.image, { raw }).resize(tile, tile).raw().toBuffer();
}

async function thumbnailMask(sample: Sample, tile: number): Promise<Uint8Array> {
  const mask = sample.mask!;
  const scaled =
    sample.size === tile
      ? mask
      : await sharp(mask, { raw: { width: sample.size, height: sample.size, channels: 1 } })
          .resize(tile, tile)
          // sharp works in sRGB unless told otherwise, and would hand back three channels.
          .toColourspace('b-w')
          .raw()
          .toBuffer();
  return Uint8Array.from(scaled, (v) => (v >= 64 ? 1 : 0));
}

/**
 * Draws a red ring around the mask, a pixel clear of it, so the defect itself stays visible and
 * the eye can check the mask hugs it.
 */
function outlineMask(image: Uint8Array, mask: Uint8Array, tile: number): Uint8Array {
  const inner = dilate(mask, tile, 1);
  const outer = dilate(mask, tile, 3);
  const out = Uint8Array.from(image);
  for (let i = 0; i < mask.length; i++) {
    if (outer[i] && !inner[i]) out.set(OUTLINE, i * 3);
  }
  return out;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function escapeXml(text: string): string {
  return text.replace(
    /[<>&"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!,
  );
}

export async function writeContactSheet(
  file: string,
  options: ContactSheetOptions = {},
): Promise<{ width: number; height: number; bytes: number }> {
  const seed = options.seed ?? DEFAULT_SEED;
  const size = options.size ?? DEFAULT_SIZE;
  const good = options.good ?? 3;
  const defects = options.defects ?? 3;
  const tile = options.tile ?? Math.min(size, 176);
  const types = (options.types ?? productTypes.map((t) => t.name)).map(productTypeNamed);
  const rowHeight = tile + CAPTION_HEIGHT + GAP;
  const width = LABEL_WIDTH + (good + 2 * defects) * (tile + GAP) + GAP;
  const height = types.length * rowHeight + GAP;
  const layers: OverlayOptions[] = [];
  const texts: string[] = [];
  const text = (x: number, y: number, value: string, style: string) =>
    texts.push(`<text x="${x}" y="${y}" ${style}>${escapeXml(value)}</text>`);

  for (const [row, type] of types.entries()) {
    const top = GAP + row * rowHeight;
    text(10, top + tile / 2, type.name, 'font-size="17" font-weight="bold" fill="#eee"');
    text(10, top + tile / 2 + 20, type.kind, 'font-size="13" fill="#aaa"');
    for (let g = 0; g < good; g++) {
      const sample = renderSample(type.name, seed, sampleIndex('test-good', g), { size });
      const left = LABEL_WIDTH + g * (tile + GAP);
      layers.push({
        input: asBuffer(await thumbnail(sample, tile)),
        raw: { width: tile, height: tile, channels: 3 },
        left,
        top,
      });
      text(left + 2, top + tile + 14, 'good', 'font-size="12" fill="#9c9"');
    }
    for (let d = 0; d < defects; d++) {
      const k = d % type.defectKinds.length;
      const kind = type.defectKinds[k]!;
      const i = Math.floor(d / type.defectKinds.length);
      const sample = renderSample(type.name, seed, sampleIndex('test-defect', i, k), {
        size,
        defect: kind,
      });
      const plain = await thumbnail(sample, tile);
      const outlined = outlineMask(plain, await thumbnailMask(sample, tile), tile);
      const left = LABEL_WIDTH + (good + 2 * d) * (tile + GAP);
      const raw = { width: tile, height: tile, channels: 3 as const };
      layers.push({ input: asBuffer(plain), raw, left, top });
      layers.push({ input: asBuffer(outlined), raw, left: left + tile + GAP, top });
      text(left + 2, top + tile + 14, kind, 'font-size="12" fill="#f99"');
      const area = (sample.defectArea * 100).toFixed(2);
      text(
        left + tile + GAP + 2,
        top + tile + 14,
        `mask · ${area} %`,
        'font-size="12" fill="#f99"',
      );
    }
  }
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `font-family="DejaVu Sans, sans-serif">${texts.join('')}</svg>`;
  layers.push({ input: Buffer.from(svg), left: 0, top: 0 });
  await mkdir(dirname(file), { recursive: true });
  const info = await sharp({
    create: { width, height, channels: 3, background: { r: 32, g: 32, b: 36 } },
  })
    .composite(layers)
    .png({ compressionLevel: 9, palette: true, quality: 95, dither: 0.6 })
    .toFile(file);
  return { width, height, bytes: info.size };
}
