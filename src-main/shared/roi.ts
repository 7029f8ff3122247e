// A type's region of interest: the rectangle of its camera images, in the image's own pixels, that
// holds the part. Decoding crops to it before resizing, so scoring and anomaly maps see only the
// part; heatmaps are drawn back onto the whole image at it. Pure, so the renderer's editor, the
// CLI and the engine read and clip it the same way.
import { BadArgumentError } from './errors.js';

export interface Roi {
  /** Left edge, pixels from the image's left. */
  x: number;
  /** Top edge, pixels from the image's top. */
  y: number;
  width: number;
  height: number;
}

/** "x,y,w,h" (what `--roi` takes and `models list` shows). */
export function formatRoi(roi: Roi): string {
  return `${roi.x},${roi.y},${roi.width},${roi.height}`;
}

/** Why `roi` cannot be used, or null when it can: whole pixels, inside the first quadrant, not empty. */
export function roiProblem(roi: Roi): string | null {
  const { x, y, width, height } = roi;
  if (![x, y, width, height].every(Number.isSafeInteger))
    return 'x, y, w and h must be whole pixels';
  if (x < 0 || y < 0) return 'x and y must be 0 or more (pixels from the top-left corner)';
  if (width <= 0 || height <= 0) return 'w and h must be more than 0';
  return null;
}

/**
 * `--roi x,y,w,h` → the rectangle; 'none' → null (clears the type's region). Throws
 * BadArgumentError with what to type otherwise, naming the field as `field` (the CLI's option,
 * or the form's label).
 */
export function parseRoi(text: string, field = '--roi'): Roi | null {
  if (text.trim().toLowerCase() === 'none') return null;
  const parts = text.split(',').map((p) => p.trim());
  const usage = `${field} takes x,y,w,h in the image's pixels (e.g. 40,20,400,300) or none; got '${text}'`;
  if (parts.length !== 4 || parts.some((p) => !/^-?\d+$/.test(p)))
    throw new BadArgumentError(`${usage}.`);
  const [x, y, width, height] = parts.map(Number) as [number, number, number, number];
  const roi = { x, y, width, height };
  const problem = roiProblem(roi);
  if (problem) throw new BadArgumentError(`${usage}: ${problem}.`);
  return roi;
}

/**
 * The part of `roi` inside a `width` × `height` image: an image smaller than the region, or one
 * the region overhangs, is scored on what it has. Null when the region misses the image entirely.
 */
export function clipRoi(roi: Roi, width: number, height: number): Roi | null {
  const left = Math.max(0, roi.x);
  const top = Math.max(0, roi.y);
  const right = Math.min(width, roi.x + roi.width);
  const bottom = Math.min(height, roi.y + roi.height);
  if (right <= left || bottom <= top) return null;
  return { x: left, y: top, width: right - left, height: bottom - top };
}

/**
 * The region a model keeps to, from its recorded config; null for the whole image (or no model).
 * A type's next retrain keeps its active model's unless told another, as with the false-alarm rate.
 */
export function modelRoi(config: Record<string, unknown> | undefined): Roi | null {
  const roi = config?.roi as Partial<Roi> | null | undefined;
  if (!roi || typeof roi !== 'object') return null;
  const candidate = { x: roi.x, y: roi.y, width: roi.width, height: roi.height } as Roi;
  return roiProblem(candidate) === null ? candidate : null;
}
