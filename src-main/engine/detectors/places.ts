// Each place's own normal (learned from held-out good images): a patch score relative to how the
// type's good parts score at that place on the image, (score − mean) ÷ (spread + a floor). Parts
// shot in one pose have places that always look odd to the bank (a commutator's bar ends, a
// cell's busbar tips), and a defect elsewhere scores no higher than they do. Relative to each
// place, those quiet down and a crack stands out: kolektor 0.912 → 0.941, ELPV mono 0.949 →
// 0.955 (EVALUATION.md, Each place's own normal). A part that turns between shots has no fixed
// places, and its defects sit where the good parts vary most (a cast impeller's rim): there it
// costs 0.03, so it is kept only where defects painted into one half of the held-out images are
// better told from the other half's good images with it than without (choosePlaces).
// Both patch detectors learn places: one-class from held-out good images (mean and spread),
// zero-shot from its references, a folder that holds defects (median and median deviation,
// robustPlaceStats).
import * as tf from '@tensorflow/tfjs';
import type { PlacesDto } from '../../shared/dto.js';
import { imageScoreOf, type ImageScoring } from './patch-features.js';
import { validationAuroc } from '../metrics.js';

/**
 * Held-out good images needed to learn places: each half of the check holds at least 5, and a
 * place's spread from fewer says little. Retrain holds out a fifth of the good images, so a type
 * needs about 50.
 */
export const MIN_PLACE_IMAGES = 10;

/** A place's spread never counts below this share of the mean spread: a quiet place stays calm. */
export const SPREAD_FLOOR = 0.5;

/**
 * What learning places gives back: the check, and each held-out image's out-of-fold score, good
 * and painted, to set the threshold and validation figures with (choosePlaces).
 */
export interface LearnedPlaces {
  check: PlacesDto;
  good: number[];
  painted: number[];
}

/** Per-place centre (mean or median) and divisor (spread + floor), each [h·w]. */
export interface PlaceStats {
  centre: Float32Array;
  divisor: Float32Array;
}

/** `divisor` (each place's spread) with the floor added: SPREAD_FLOOR × the mean spread. */
function withFloor(centre: Float32Array, divisor: Float32Array): PlaceStats {
  const floor = (SPREAD_FLOOR * divisor.reduce((a, b) => a + b, 0)) / divisor.length;
  for (let j = 0; j < divisor.length; j++) divisor[j] = divisor[j]! + Math.max(floor, 1e-12);
  return { centre, divisor };
}

/** Statistics of patch maps (each [h·w], all one grid) at each place: mean and standard deviation. */
export function placeStats(maps: readonly Float32Array[]): PlaceStats {
  const n = maps[0]!.length;
  const mean = new Float32Array(n);
  const spread = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    let sum = 0;
    for (const map of maps) sum += map[j]!;
    const m = sum / maps.length;
    let squares = 0;
    for (const map of maps) squares += (map[j]! - m) ** 2;
    mean[j] = m;
    spread[j] = Math.sqrt(squares / maps.length);
  }
  return withFloor(mean, spread);
}

/** The median of `values` (sorts them). */
function median(values: Float32Array): number {
  values.sort();
  const mid = values.length >> 1;
  return values.length % 2 === 1 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;
}

/**
 * Statistics at each place that a minority of defective maps does not move: the median, and the
 * median absolute deviation scaled to a normal's standard deviation (× 1.4826). For maps of an
 * unlabeled folder (zero-shot), where some images are defective.
 */
export function robustPlaceStats(maps: readonly Float32Array[]): PlaceStats {
  const n = maps[0]!.length;
  const centre = new Float32Array(n);
  const spread = new Float32Array(n);
  const column = new Float32Array(maps.length);
  for (let j = 0; j < n; j++) {
    maps.forEach((map, i) => (column[i] = map[j]!));
    const m = median(column);
    maps.forEach((map, i) => (column[i] = Math.abs(map[j]! - m)));
    centre[j] = m;
    spread[j] = 1.4826 * median(column);
  }
  return withFloor(centre, spread);
}

/** A patch map relative to each place. */
export function relative(map: Float32Array, stats: PlaceStats): Float32Array {
  return map.map((v, j) => (v - stats.centre[j]!) / stats.divisor[j]!);
}

/** The two halves of the held-out images, by index: the first half and the rest. */
function halves(count: number): [number[], number[]] {
  const half = Math.floor(count / 2);
  const all = Array.from({ length: count }, (_, i) => i);
  return [all.slice(0, half), all.slice(half)];
}

/**
 * Whether scoring relative to each place helps, and each held-out image's score as a model whose
 * places it did not teach would give it. `check` and `checkPainted` are the bank's maps (without
 * a defect head, which learned from painted defects) of the held-out good images and of the same
 * images with defects painted in (`paintedPerImage` each, in order); `good` and `painted` are the
 * maps as the model scores them; all on `grid`, their image scores taken by `scoring`. Each
 * half's places judge the other half: the image AUROC of its good images against its painted
 * ones, as they are and relative to each place (its statistics by `statsOf`), averaged over both
 * ways. Kept when relative is higher; then the out-of-fold scores are each image's relative to
 * the places of the half it is not in (to set the threshold and validation figures with), and the
 * places are learned from all the good maps.
 */
export function choosePlaces(
  maps: {
    check: Float32Array[];
    checkPainted: Float32Array[];
    good: Float32Array[];
    painted: Float32Array[];
  },
  paintedPerImage: number,
  grid: readonly [number, number],
  scoring: ImageScoring,
  statsOf: (maps: readonly Float32Array[]) => PlaceStats = placeStats,
): LearnedPlaces & { stats: PlaceStats | null } {
  const topScore = (map: Float32Array) => imageScoreOf(map, grid, scoring);
  const count = maps.good.length;
  const paintedOf = (list: Float32Array[], images: number[]) =>
    images.flatMap((i) => list.slice(i * paintedPerImage, (i + 1) * paintedPerImage));
  const [first, second] = halves(count);
  let asIs = 0;
  let byPlace = 0;
  const good = new Array<number>(count).fill(0);
  const painted = new Array<number>(count * paintedPerImage).fill(0);
  const folds: [number[], number[]][] = [
    [first, second],
    [second, first],
  ];
  for (const [learn, judge] of folds) {
    const pick = (images: number[]) => images.map((i) => maps.check[i]!);
    const stats = statsOf(pick(learn));
    const judgedPainted = paintedOf(maps.checkPainted, judge);
    asIs += validationAuroc(pick(judge).map(topScore), judgedPainted.map(topScore)) / 2;
    byPlace +=
      validationAuroc(
        pick(judge).map((m) => topScore(relative(m, stats))),
        judgedPainted.map((m) => topScore(relative(m, stats))),
      ) / 2;
    const modelStats = statsOf(learn.map((i) => maps.good[i]!));
    for (const i of judge) {
      good[i] = topScore(relative(maps.good[i]!, modelStats));
      for (let p = 0; p < paintedPerImage; p++) {
        const at = i * paintedPerImage + p;
        painted[at] = topScore(relative(maps.painted[at]!, modelStats));
      }
    }
  }
  const used = byPlace > asIs;
  return {
    check: { heldOutImages: count, auroc: asIs, placedAuroc: byPlace, used },
    stats: used ? statsOf(maps.good) : null,
    good,
    painted,
  };
}

/** Places as tensors [h, w], for the detector's scores. */
export class Places {
  readonly centre: tf.Tensor2D;
  readonly divisor: tf.Tensor2D;

  constructor(
    stats: PlaceStats,
    readonly grid: [number, number],
  ) {
    this.centre = tf.tensor2d(stats.centre, grid);
    this.divisor = tf.tensor2d(stats.divisor, grid);
  }

  /** Patch scores [B, h, w] relative to each place. */
  apply(scores: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => tf.div(tf.sub(scores, this.centre), this.divisor));
  }

  /** Centre then divisor, flat, for the model folder. */
  flat(): tf.Tensor1D {
    return tf.tidy(
      () => tf.concat([this.centre.reshape([-1]), this.divisor.reshape([-1])]) as tf.Tensor1D,
    );
  }

  static fromFloats(values: Float32Array, grid: [number, number]): Places {
    const n = grid[0] * grid[1];
    return new Places({ centre: values.slice(0, n), divisor: values.slice(n, 2 * n) }, grid);
  }

  dispose(): void {
    tf.dispose([this.centre, this.divisor]);
  }
}
