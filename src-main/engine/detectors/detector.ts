// The one interface every detector implements (anomalib's AnomalyModule, tfjs-models' detectors):
// fit on training images, score a batch into raw scores with an optional anomaly map, save,
// dispose. Raw scores are turned into 0..1 decisions by threshold.ts, never here.
import type * as tf from '@tensorflow/tfjs';
import type { AnomalyMap } from '../../data/heatmap.js';
import type { Encoder } from '../encoders/encoder.js';
import type { InputShape } from '../image-batches.js';
export type { AnomalyMap };

export type DetectorKind = 'one-class' | 'zero-shot' | 'classifier' | 'baseline';

export interface ScoreResult {
  /** Raw image score: higher = more anomalous. Not normalised. */
  score: number;
  anomalyMap?: AnomalyMap;
}

/** A batch of images for fitting: float32 [B, H, W, 3] in 0..1, with labels where known. */
export interface FitBatch {
  images: tf.Tensor4D;
  /** 1 = defect, 0 = good, per image; absent for good-only or unlabeled data. */
  labels?: number[];
}

export interface FitOptions {
  onProgress?: (done: number, total: number, message?: string) => void;
  signal?: AbortSignal;
  /** Images the batches will hold in all, for progress and memory planning. */
  total?: number;
}

export interface Detector {
  readonly kind: DetectorKind;
  /** The encoder the detector owns (disposed with it). */
  readonly encoder: Encoder;
  /** Short input side the detector scores at; tiled, the side of the tiles (tiling.ts). */
  readonly inputSize: number;
  /**
   * What images are resized to before scoring: `inputSize` square, or the type's own aspect;
   * tiled, the whole image at the tile scale.
   */
  readonly inputShape: InputShape;
  /**
   * Learns from batches (the caller owns and disposes them). One-class: good images; zero-shot:
   * the unlabeled folder itself; classifier/baseline: labeled images.
   */
  fit(batches: AsyncIterable<FitBatch> | Iterable<FitBatch>, options?: FitOptions): Promise<void>;
  /** Raw scores for a batch (the caller owns `images`). */
  score(images: tf.Tensor4D, options?: { anomalyMaps?: boolean }): Promise<ScoreResult[]>;
  /** Writes the fitted detector into a folder (use model-files' atomic write around it). */
  save(dir: string): Promise<void>;
  /** Frees every tensor the detector holds. */
  dispose(): void;
}
