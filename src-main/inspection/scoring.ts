// Scoring image files with a detector and its calibration: raw score → 0..1 score, decision
// (OK / DEFECT / UNSURE) and, when asked, a heatmap overlay PNG. Files that cannot be read get
// a per-file error and never stop the rest.
import { join } from 'node:path';
import { DEFAULT_INPUT_SIZE, type Decision, type FileProblem } from '../shared/dto.js';
import { BadArgumentError, ImageError, ModelError, errorMessage } from '../shared/errors.js';
import type { Roi } from '../shared/roi.js';
import { heatmapName, writeHeatmapOverlay } from '../data/heatmap.js';
import type { Detector } from '../engine/detectors/detector.js';
import { decodedBatches } from '../engine/decoded-batches.js';
import { detectorEntry } from '../engine/detectors/registry.js';
import { asZeroShot } from '../engine/detectors/zero-shot/mutual-scoring.js';
import { createEncoder } from '../engine/encoders/registry.js';
import { sharedAspect } from '../engine/input-shape.js';
import { loadDetectorModel } from '../engine/model-files.js';
import { rawScores } from '../engine/raw-scores.js';
import { decide, normalise, type Calibration } from '../engine/threshold.js';
import type { Store } from '../store/store.js';
import { MIN_GOOD_IMAGES } from './retrain.js';

export interface ScoredFile {
  path: string;
  rawScore: number;
  /** 0..1, threshold at 0.5. */
  score: number;
  decision: Decision;
  heatmapPath?: string;
}

export interface ScoreFilesOptions {
  batchSize?: number;
  /** Folder for heatmap overlays; none are written when absent. */
  heatmapDir?: string;
  onResult?: (result: ScoredFile) => void;
  onError?: (error: FileProblem) => void;
  signal?: AbortSignal;
  /** The region of interest the detector's model keeps to (its manifest's). */
  roi?: Roi | null;
}

/** A raw score on the calibrated 0..1 scale, with its decision. */
function judged(path: string, rawScore: number, calibration: Calibration): ScoredFile {
  const score = normalise(rawScore, calibration);
  return { path, rawScore, score, decision: decide(score, calibration.unsureBand) };
}

/** Scores files with a calibrated detector; returns the results in input order of success. */
export async function scoreFiles(
  detector: Detector,
  calibration: Calibration,
  paths: string[],
  options: ScoreFilesOptions = {},
): Promise<ScoredFile[]> {
  const scored: ScoredFile[] = [];
  for await (const batch of rawScores(detector, paths, {
    ...options,
    anomalyMaps: Boolean(options.heatmapDir),
  })) {
    for (const result of batch) {
      const file = judged(result.path, result.score, calibration);
      if (options.heatmapDir && result.anomalyMap) {
        const target = join(options.heatmapDir, heatmapName(result.path));
        try {
          await writeHeatmapOverlay(result.path, result.anomalyMap, target, {
            normalise: (raw) => normalise(raw, calibration),
            roi: options.roi ?? null,
          });
          file.heatmapPath = target;
        } catch (error) {
          const problem = error instanceof ImageError ? error.problem : 'error';
          options.onError?.({ path: result.path, problem, message: errorMessage(error) });
        }
      }
      scored.push(file);
      options.onResult?.(file);
    }
  }
  return scored;
}

export interface TypeScoring {
  /** The model that scored, or zero-shot when the type has no active model. */
  model: { id: number; kind: string; name: string } | { id: null; kind: 'zero-shot'; name: string };
  calibration: Calibration;
  results: ScoredFile[];
  errors: FileProblem[];
}

/**
 * Scores files as the object type's active model sees them; a type without a model is scored
 * zero-shot against the files themselves (which needs at least two of them).
 */
export async function scoreForType(
  store: Store,
  objectType: string,
  paths: string[],
  options: ScoreFilesOptions & { inputSize?: number } = {},
): Promise<TypeScoring> {
  const errors: FileProblem[] = [];
  const onError = (error: FileProblem) => {
    errors.push(error);
    options.onError?.(error);
  };
  const active = store.models.active(objectType);
  if (active?.path) {
    const { manifest, detector } = await loadDetectorModel(active.path);
    try {
      if (!manifest.threshold)
        throw new ModelError(`Model ${active.id} has no calibrated threshold; retrain the type.`);
      const results = await scoreFiles(detector, manifest.threshold, paths, {
        ...options,
        ...(manifest.roi ? { roi: manifest.roi } : {}),
        onError,
      });
      return {
        model: { id: active.id, kind: active.kind, name: active.name },
        calibration: manifest.threshold,
        results,
        errors,
      };
    } finally {
      detector.dispose();
    }
  }
  if (paths.length < 2) {
    throw new BadArgumentError(
      `Object type '${objectType}' has no model yet. Score a folder of its images (zero-shot needs at least two), or run \`defectscope retrain --type ${objectType}\` once it has ${MIN_GOOD_IMAGES}+ good images.`,
    );
  }
  const inputSize = options.inputSize ?? DEFAULT_INPUT_SIZE;
  const detector = asZeroShot(
    detectorEntry('zero-shot').create(await createEncoder('mobilenetv3', { inputSize }), {
      inputSize,
      aspect: await sharedAspect(paths),
    }),
  );
  try {
    const batchOptions = {
      ...(options.batchSize ? { batchSize: options.batchSize } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    };
    // Pass 1: the folder's own images become the references; pass 2: scores, which calibrate.
    await detector.fit(decodedBatches(paths, detector.inputShape, batchOptions), {
      total: paths.length,
    });
    const raw: { path: string; score: number }[] = [];
    for await (const batch of rawScores(detector, paths, { ...batchOptions, onError }))
      raw.push(...batch);
    const calibration = detector.calibrate(raw.map((r) => r.score));
    // Heatmaps need the calibrated scale, so they take another scoring pass; plain scores don't.
    const results = options.heatmapDir
      ? await scoreFiles(
          detector,
          calibration,
          raw.map((r) => r.path),
          options,
        )
      : raw.map((r) => {
          const file = judged(r.path, r.score, calibration);
          options.onResult?.(file);
          return file;
        });
    return {
      model: { id: null, kind: 'zero-shot', name: 'zero-shot (no model for this type yet)' },
      calibration,
      results,
      errors,
    };
  } finally {
    detector.dispose();
  }
}
