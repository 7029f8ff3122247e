// Scoring a large image in tiles, for the patch detectors: the image is decoded at a chosen scale
// (its short side `tileScale`, its own aspect) and cut into overlapping tiles of the detector's
// input size, so a defect a few pixels wide in a 5 MP frame is not shrunk away. Each tile is a
// training image when fitting; when scoring, the tiles' patch scores are stitched back onto the
// whole image's patch grid, so the image score and anomaly map come from patchResults exactly as
// for an untiled image.
import * as tf from '@tensorflow/tfjs';
import { BadArgumentError } from '../../shared/errors.js';
import { widthHeight, type InputShape } from '../image-batches.js';
import type { FitBatch, FitOptions } from './detector.js';

/**
 * Share of a tile that overlaps its neighbour, at least: a defect cut by one tile's edge lies
 * well inside the next, where its patches see their whole neighbourhood.
 */
export const TILE_OVERLAP = 0.25;
/**
 * Tile offsets are multiples of this, the encoder's coarsest patch stride, so every tile's patch
 * grid falls exactly onto the whole image's.
 */
const TILE_ALIGN = 16;
/**
 * Tiles encoded together: as many pixels as patch-features' CPU pass at 224 px, so a batch of
 * large images never holds all its tiles' activations at once (patchFeatures splits further
 * where the backend needs it).
 */
const TILES_PER_PASS = 16;

/**
 * Offsets of tiles of side `tile` along a side of `length` px: evenly spread with at least
 * TILE_OVERLAP overlap, on multiples of TILE_ALIGN, the last flush with the far edge. A side no
 * longer than a tile is one tile.
 */
export function tileOffsets(length: number, tile: number, overlap = TILE_OVERLAP): number[] {
  if (length <= tile) return [0];
  const step = Math.max(TILE_ALIGN, Math.floor((tile * (1 - overlap)) / TILE_ALIGN) * TILE_ALIGN);
  const last = length - tile;
  const count = Math.ceil(last / step) + 1;
  // Rounded down, neighbours lie at most one aligned step apart (evenly spread, they would lie
  // last / (count − 1) ≤ step apart).
  return Array.from({ length: count }, (_, i) =>
    i === count - 1 ? last : Math.floor((i * last) / (count - 1) / TILE_ALIGN) * TILE_ALIGN,
  );
}

/**
 * Checks a tile scale (the short side a tiled detector scores at) against its tile side: both
 * multiples of TILE_ALIGN, so tile edges meet patch edges, and the scale no smaller than a tile.
 */
export function checkTileScale(tileScale: number, tile: number): void {
  if (tile % TILE_ALIGN !== 0)
    throw new BadArgumentError(
      `Scoring in tiles needs an input size that is a multiple of ${TILE_ALIGN} px; got ${tile}.`,
    );
  if (!(Number.isInteger(tileScale) && tileScale % TILE_ALIGN === 0 && tileScale >= tile))
    throw new BadArgumentError(
      `A tile scale is the short side images are scored at in ${tile} px tiles: a multiple of ${TILE_ALIGN} of at least ${tile}; got ${tileScale}.`,
    );
}

/** Where the tiles of one image of a given shape lie; tiles are numbered row by row. */
export class TileLayout {
  /** [height, width] of every tile: the tile side, or the image's side where that is shorter. */
  readonly tileShape: [number, number];
  readonly tops: number[];
  readonly lefts: number[];

  constructor(
    readonly imageShape: InputShape,
    tile: number,
  ) {
    const [width, height] = widthHeight(imageShape);
    this.tileShape = [Math.min(tile, height), Math.min(tile, width)];
    this.tops = tileOffsets(height, tile);
    this.lefts = tileOffsets(width, tile);
  }

  /** Tiles per image. */
  get count(): number {
    return this.tops.length * this.lefts.length;
  }

  private origin(index: number): [top: number, left: number] {
    return [
      this.tops[Math.floor(index / this.lefts.length)]!,
      this.lefts[index % this.lefts.length]!,
    ];
  }

  /**
   * Tiles `first` … `first + count − 1` of a batch [B, H, W, 3], numbered image by image, as
   * [count, h, w, 3].
   */
  cut(images: tf.Tensor4D, first: number, count: number): tf.Tensor4D {
    const [h, w] = this.tileShape;
    return tf.tidy(() =>
      tf.concat(
        Array.from({ length: count }, (_, i) => {
          const image = Math.floor((first + i) / this.count);
          const [top, left] = this.origin((first + i) % this.count);
          return images.slice([image, top, left, 0], [1, h, w, -1]);
        }),
      ),
    );
  }

  /**
   * Patch scores of every tile of B images [B × count, gh, gw] → the images' patch scores
   * [B, Gh, Gw] on the whole image's patch grid, overlaps averaged: each patch keeps one score,
   * so the image score aggregates patches as it does untiled.
   */
  stitch(tileScores: tf.Tensor3D): tf.Tensor3D {
    const [tiles, gh, gw] = tileScores.shape;
    const images = tiles / this.count;
    const stride = this.tileShape[0] / gh;
    const [width, height] = widthHeight(this.imageShape);
    if (!Number.isInteger(images) || this.tileShape[1] / gw !== stride || TILE_ALIGN % stride !== 0)
      throw new Error(
        `cannot stitch ${tiles} tile score maps of ${gh}×${gw} into ${this.count}-tile images`,
      );
    const [rows, columns] = [height / stride, width / stride];
    return tf.tidy(() => {
      let sum: tf.Tensor3D = tf.zeros([images, rows, columns]);
      let covered: tf.Tensor2D = tf.zeros([rows, columns]);
      for (let t = 0; t < this.count; t++) {
        const [top, left] = this.origin(t).map((o) => o / stride) as [number, number];
        const at: [number, number][] = [
          [top, rows - top - gh],
          [left, columns - left - gw],
        ];
        // Tile t of every image: rows t, t + count, … of the tile scores.
        const scores = tf.gather(
          tileScores,
          Array.from({ length: images }, (_, i) => i * this.count + t),
        );
        sum = tf.add(sum, tf.pad(scores, [[0, 0], ...at]));
        covered = tf.add(covered, tf.pad(tf.ones([gh, gw]), at));
      }
      return tf.div(sum, covered);
    });
  }
}

/**
 * Patch scores [B, Gh, Gw] of whole images [B, H, W, 3] from a scorer of tiles: the tiles are
 * scored TILES_PER_PASS at a time and stitched (TileLayout.stitch).
 */
export function tiledPatchScores(
  images: tf.Tensor4D,
  layout: TileLayout,
  scoreTiles: (tiles: tf.Tensor4D) => tf.Tensor3D,
): tf.Tensor3D {
  return tf.tidy(() => {
    const total = images.shape[0] * layout.count;
    const parts: tf.Tensor3D[] = [];
    // Each pass in its own tidy: its tiles and features go before the next pass is cut.
    for (let first = 0; first < total; first += TILES_PER_PASS)
      parts.push(
        tf.tidy(() =>
          scoreTiles(layout.cut(images, first, Math.min(TILES_PER_PASS, total - first))),
        ),
      );
    return layout.stitch(parts.length === 1 ? parts[0]! : tf.concat(parts));
  });
}

/** Fit batches of tiles, TILES_PER_PASS at a time, each with its image's label. */
async function* tileBatches(
  batches: AsyncIterable<FitBatch> | Iterable<FitBatch>,
  layout: TileLayout,
): AsyncGenerator<FitBatch> {
  for await (const batch of batches) {
    const total = batch.images.shape[0] * layout.count;
    for (let first = 0; first < total; first += TILES_PER_PASS) {
      const count = Math.min(TILES_PER_PASS, total - first);
      const tiles = layout.cut(batch.images, first, count);
      try {
        yield {
          images: tiles,
          ...(batch.labels
            ? {
                labels: Array.from(
                  { length: count },
                  (_, i) => batch.labels![Math.floor((first + i) / layout.count)]!,
                ),
              }
            : {}),
        };
      } finally {
        tiles.dispose();
      }
    }
  }
}

/**
 * What a patch detector fits on: the batches themselves when untiled (`layout` null), else their
 * tiles, each a training image; progress then counts tiles.
 */
export function fitInputs(
  batches: AsyncIterable<FitBatch> | Iterable<FitBatch>,
  options: FitOptions,
  layout: TileLayout | null,
): { batches: AsyncIterable<FitBatch> | Iterable<FitBatch>; options: FitOptions } {
  if (!layout) return { batches, options };
  return {
    batches: tileBatches(batches, layout),
    options: {
      ...options,
      ...(options.total !== undefined ? { total: options.total * layout.count } : {}),
    },
  };
}

/** The layout a patch detector scores in: none untiled, else tiles of `tile` px over `shape`. */
export function tileLayoutFor(
  tileScale: number | null,
  shape: InputShape,
  tile: number,
): TileLayout | null {
  return tileScale === null ? null : new TileLayout(shape, tile);
}
