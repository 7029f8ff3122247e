// Reading images with sharp: PNG, JPEG, BMP, TIFF, WebP (8/16-bit; gray, RGB, RGBA) → RGB
// float32 pixels at a requested size, thumbnails and content hashes. Every failure is a typed
// ImageError naming the file, so a batch reports it and carries on.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open as openFile, readFile, rename, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { decode as decodeBmp } from 'fast-bmp';
import sharp from 'sharp';
import { ImageError, errorMessage, type ImageProblem } from '../shared/errors.js';
import { clipRoi, formatRoi, type Roi } from '../shared/roi.js';

/** Protects memory from decompression bombs: 100 megapixels is far above any line camera. */
export const MAX_INPUT_PIXELS = 100_000_000;

export const IMAGE_EXTENSIONS = new Set([
  '.png',
  '.jpg',
  '.jpeg',
  '.bmp',
  '.tif',
  '.tiff',
  '.webp',
]);

export interface ImageInfo {
  width: number;
  height: number;
  channels: number;
  bitDepth: number;
  format: string;
  bytes: number;
}

export interface DecodedImage {
  /** RGB, height × width × 3, scaled to 0..1. */
  data: Float32Array;
  width: number;
  height: number;
  rawWidth: number;
  rawHeight: number;
}

export interface DecodeOptions {
  /** Output size: a side for a square, or [width, height]. Omit to keep the raw size. */
  size?: number | [number, number];
  /** How to fit a non-matching aspect ratio: stretch (default, keeps all pixels) or cover. */
  fit?: 'fill' | 'cover';
  /**
   * Crop to this region of interest (image pixels) before resizing, clipped to the image; an
   * image the region misses entirely is an 'outside-roi' ImageError.
   */
  roi?: Roi | null;
}

// sharp's own messages, mapped to what an inspector can act on.
function classify(path: string, error: unknown): ImageError {
  const text = errorMessage(error);
  let problem: ImageProblem = 'corrupt';
  let detail = `the image data is damaged (${text}). Re-export it from the camera.`;
  if (
    /unsupported image format|bad seek|not a known file format|Input buffer contains unsupported/i.test(
      text,
    )
  ) {
    problem = 'not-an-image';
    detail = 'not an image DefectScope can read (PNG, JPEG, BMP, TIFF or WebP).';
  } else if (/pixel limit/i.test(text)) {
    problem = 'too-large';
    detail = `the image is larger than ${MAX_INPUT_PIXELS / 1e6} megapixels; resize it before inspection.`;
  } else if (/truncated|premature end|unexpected end/i.test(text)) {
    detail = `the file is truncated (${text}); it may still be being written.`;
  }
  return new ImageError(path, problem, detail, { cause: error });
}

async function fileSize(path: string): Promise<number> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new ImageError(path, 'not-an-image', 'not a file.');
    if (info.size === 0)
      throw new ImageError(
        path,
        'empty',
        'the file is empty (0 bytes); it may still be being written.',
      );
    return info.size;
  } catch (error) {
    if (error instanceof ImageError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ImageError(
        path,
        'missing',
        'the file is gone (moved or deleted before it could be read).',
      );
    }
    throw new ImageError(path, 'missing', `cannot read the file (${errorMessage(error)}).`, {
      cause: error,
    });
  }
}

const sharpOptions = {
  limitInputPixels: MAX_INPUT_PIXELS,
  failOn: 'warning',
  sequentialRead: true,
} as const;

async function isBmp(path: string): Promise<boolean> {
  const handle = await openFile(path, 'r');
  try {
    const head = Buffer.alloc(2);
    await handle.read(head, 0, 2, 0);
    return head.toString('latin1') === 'BM';
  } finally {
    await handle.close();
  }
}

/**
 * A sharp pipeline over the file, turned upright as its EXIF orientation says (a camera held on
 * its side writes the pixels unrotated and says so in the tag; viewers, the browser included,
 * show it upright, so regions of interest, heatmaps and the model all see it that way). sharp's
 * prebuilt libvips has no BMP loader, so BMP goes through fast-bmp into raw pixels first. failOn
 * 'warning' rejects truncated and damaged data instead of decoding grey garbage.
 */
export async function openImage(
  path: string,
): Promise<{ image: ReturnType<typeof sharp>; format?: string }> {
  if (!(await isBmp(path))) return { image: sharp(path, { ...sharpOptions, autoOrient: true }) };
  const bmp = decodeBmp(await readFile(path));
  const channels = bmp.channels as 1 | 2 | 3 | 4;
  const pixels = bmp.data as Uint8Array;
  if (bmp.bitsPerPixel === 1 || pixels.length !== bmp.width * bmp.height * channels) {
    throw new Error(
      'unsupported BMP variant (only 8-bit grey, 24-bit RGB and 32-bit RGBA are read)',
    );
  }
  const raw = { width: bmp.width, height: bmp.height, channels };
  return { image: sharp(pixels, { ...sharpOptions, raw }), format: 'bmp' };
}

/** Reads the header only: format, size, channels, bit depth. Does not prove the pixels decode. */
export async function probeImage(path: string): Promise<ImageInfo> {
  const bytes = await fileSize(path);
  try {
    const { image, format } = await openImage(path);
    const meta = await image.metadata();
    if (!meta.width || !meta.height || !meta.format) throw new Error('unsupported image format');
    if (meta.width * meta.height > MAX_INPUT_PIXELS)
      throw new Error('Input image exceeds pixel limit');
    // Upright, as every pipeline opened here is (openImage).
    const { width, height } = meta.autoOrient ?? meta;
    return {
      width,
      height,
      channels: meta.channels ?? 3,
      bitDepth: meta.depth === 'ushort' || (meta.bitsPerSample ?? 8) > 8 ? 16 : 8,
      format: format ?? meta.format,
      bytes,
    };
  } catch (error) {
    throw classify(path, error);
  }
}

/**
 * Decodes to RGB float32 at the requested size (0..1), alpha flattened onto black; with a region
 * of interest, only that region (clipped to the image), at the size of the region when no size is
 * asked.
 */
export async function decodeImage(
  path: string,
  options: DecodeOptions = {},
): Promise<DecodedImage> {
  const info = await probeImage(path);
  const region = options.roi ? clipRoi(options.roi, info.width, info.height) : null;
  if (options.roi && !region) {
    throw new ImageError(
      path,
      'outside-roi',
      `the region of interest ${formatRoi(options.roi)} lies outside this ${info.width} × ${info.height} image; check the camera framing or the region (--roi).`,
    );
  }
  const [width, height] =
    options.size === undefined
      ? [region?.width ?? info.width, region?.height ?? info.height]
      : typeof options.size === 'number'
        ? [options.size, options.size]
        : options.size;
  try {
    const sixteen = info.bitDepth === 16;
    const { image } = await openImage(path);
    // Cropped before the resize (sharp extracts first when asked first): the part, at full detail.
    const cropped = region
      ? image.extract({ left: region.x, top: region.y, width: region.width, height: region.height })
      : image;
    const { data } = await cropped
      .flatten({ background: '#000000' })
      .resize(width, height, { fit: options.fit ?? 'fill', kernel: 'lanczos3' })
      .toColourspace(sixteen ? 'rgb16' : 'srgb')
      .removeAlpha()
      .raw({ depth: sixteen ? 'ushort' : 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const source = sixteen
      ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (source.length !== width * height * 3) {
      throw new Error(`decoded ${source.length} values, expected ${width * height * 3}`);
    }
    const scale = 1 / (sixteen ? 65535 : 255);
    const pixels = new Float32Array(source.length);
    for (let i = 0; i < source.length; i++) pixels[i] = source[i]! * scale;
    return { data: pixels, width, height, rawWidth: info.width, rawHeight: info.height };
  } catch (error) {
    throw classify(path, error);
  }
}

/**
 * Writes a thumbnail (WebP, longest side `side`) atomically and returns the image's header
 * info. Decoding the whole image to make it is also what proves the file is not truncated.
 */
export async function writeThumbnail(path: string, target: string, side = 256): Promise<ImageInfo> {
  const info = await probeImage(path);
  try {
    await mkdir(dirname(target), { recursive: true });
    const tmp = `${target}.${process.pid}.tmp`;
    const { image } = await openImage(path);
    await image
      .flatten({ background: '#000000' })
      .resize(side, side, { fit: 'inside', withoutEnlargement: true })
      .toColourspace('srgb')
      .webp({ quality: 80 })
      .toFile(tmp);
    await rename(tmp, target);
    return info;
  } catch (error) {
    throw classify(path, error);
  }
}

/** sha256 of the file's bytes, streamed so huge files do not sit in memory. */
export async function hashFile(path: string): Promise<string> {
  await fileSize(path);
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('error', (error) =>
        reject(new ImageError(path, 'missing', `cannot read the file (${errorMessage(error)}).`)),
      )
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')));
  });
}
