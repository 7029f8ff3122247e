// One-click retrain for an object type: fit a new one-class model on the type's good images
// (imported and reviewed), validate it on held-out good images and every defect label (or, with
// no defect labels yet, on synthetic CutPaste defects), and activate it only if it is at least
// as good as the active model on the same validation images. Older versions stay for rollback.
import { join } from 'node:path';
import type { ImageDto } from '../shared/dto.js';
import { BadArgumentError } from '../shared/errors.js';
import type { Store } from '../store/store.js';
import { Rng, cutPaste, defaultCutPaste } from '../engine/augment.js';
import type { Detector } from '../engine/detectors/detector.js';
import { detectorEntry } from '../engine/detectors/registry.js';
import { createEncoder } from '../engine/encoders/registry.js';
import { decodedBatches } from '../engine/decoded-batches.js';
import { atThreshold, imageMetrics } from '../engine/metrics.js';
import {
  loadDetectorModel,
  saveDetectorModel,
  standardPreprocessing,
} from '../engine/model-files.js';
import { calibrate, type Calibration } from '../engine/threshold.js';
import { rawScores } from './scoring.js';

export const MIN_GOOD_IMAGES = 10;

export interface RetrainOptions {
  objectType: string;
  inputSize?: number;
  batchSize?: number;
  seed?: number;
  onProgress?: (message: string, done?: number, total?: number) => void;
  signal?: AbortSignal;
}

export interface ValidationMetrics {
  /** 'labels': defect labels of the type; 'synthetic': CutPaste defects on held-out good images. */
  defects: 'labels' | 'synthetic';
  goodImages: number;
  defectImages: number;
  imageAuroc: number;
  averagePrecision: number;
  f1Max: number;
  precision: number;
  recall: number;
  f1: number;
  falseAlarmRate: number;
}

export interface RetrainResult {
  modelId: number;
  activated: boolean;
  /** Why it was or was not activated, for the inspector. */
  reason: string;
  metrics: ValidationMetrics;
  calibration: Calibration;
  previous?: { modelId: number; imageAuroc: number };
  path: string;
}

interface Split {
  fit: ImageDto[];
  validationGood: ImageDto[];
  validationDefect: ImageDto[];
}

/** Held-out good images: the 'test' split where there are enough, else every fifth by content hash. */
export function splitForRetrain(images: ImageDto[]): Split {
  const good = images
    .filter((i) => i.label === 'good')
    .sort((a, b) => a.sha256.localeCompare(b.sha256));
  const defects = images.filter((i) => i.label === 'defect');
  const testGood = good.filter((i) => i.split === 'test');
  const validationGood = testGood.length >= 3 ? testGood : good.filter((_, i) => i % 5 === 4);
  const held = new Set(validationGood.map((i) => i.id));
  return { fit: good.filter((i) => !held.has(i.id)), validationGood, validationDefect: defects };
}

async function scoresOf(detector: Detector, paths: string[], batchSize: number): Promise<number[]> {
  const scores: number[] = [];
  for await (const batch of rawScores(detector, paths, { batchSize }))
    scores.push(...batch.map((r) => r.score));
  return scores;
}

/** Scores of held-out good images with small CutPaste defects pasted in (seeded, so comparable). */
async function syntheticDefectScores(
  detector: Detector,
  goodPaths: string[],
  seed: number,
  batchSize: number,
): Promise<number[]> {
  const scores: number[] = [];
  const rng = new Rng(seed);
  const small = {
    ...defaultCutPaste,
    probability: 1,
    minArea: 0.005,
    maxArea: 0.03,
    brightness: 0.2,
  };
  for await (const batch of decodedBatches(goodPaths, detector.inputSize, { batchSize })) {
    const { images, pasted } = cutPaste(batch.images, rng, small);
    try {
      const results = await detector.score(images);
      results.forEach((r, i) => pasted[i] && scores.push(r.score));
    } finally {
      images.dispose();
    }
  }
  return scores;
}

interface Validation {
  good: number[];
  defect: number[];
  kind: ValidationMetrics['defects'];
}

async function validate(
  detector: Detector,
  split: Split,
  seed: number,
  batchSize: number,
): Promise<Validation> {
  const good = await scoresOf(
    detector,
    split.validationGood.map((i) => i.path),
    batchSize,
  );
  if (split.validationDefect.length > 0) {
    return {
      good,
      defect: await scoresOf(
        detector,
        split.validationDefect.map((i) => i.path),
        batchSize,
      ),
      kind: 'labels',
    };
  }
  return {
    good,
    defect: await syntheticDefectScores(
      detector,
      split.validationGood.map((i) => i.path),
      seed,
      batchSize,
    ),
    kind: 'synthetic',
  };
}

function metricsOf(v: Validation, calibration: Calibration): ValidationMetrics {
  const scores = [...v.good, ...v.defect];
  const labels = [...v.good.map(() => 0), ...v.defect.map(() => 1)];
  const image = imageMetrics(scores, labels);
  const at = atThreshold(scores, labels, calibration.threshold);
  return {
    defects: v.kind,
    goodImages: v.good.length,
    defectImages: v.defect.length,
    imageAuroc: image.imageAuroc,
    averagePrecision: image.averagePrecision,
    f1Max: image.f1Max,
    precision: at.precision,
    recall: at.recall,
    f1: at.f1,
    falseAlarmRate: at.fp / Math.max(1, at.fp + at.tn),
  };
}

export async function retrainObjectType(
  store: Store,
  options: RetrainOptions,
): Promise<RetrainResult> {
  const { objectType } = options;
  const inputSize = options.inputSize ?? 224;
  const batchSize = options.batchSize ?? 16;
  const seed = options.seed ?? 1;
  if (store.objectTypes.idOf(objectType) === undefined) {
    throw new BadArgumentError(
      `No object type '${objectType}'. Import its images first (defectscope import <folder> --type ${objectType}).`,
    );
  }
  const split = splitForRetrain(store.images.list({ objectTypes: [objectType] }));
  const goodCount = split.fit.length + split.validationGood.length;
  if (goodCount < MIN_GOOD_IMAGES) {
    throw new BadArgumentError(
      `Object type '${objectType}' has ${goodCount} good image(s); a model needs at least ${MIN_GOOD_IMAGES}. Import or review more good images.`,
    );
  }

  options.onProgress?.(`fitting on ${split.fit.length} good images`, 0, split.fit.length);
  const detector = detectorEntry('one-class').create(
    await createEncoder('mobilenetv3', { inputSize }),
    { inputSize, seed },
  );
  try {
    await detector.fit(
      decodedBatches(
        split.fit.map((i) => i.path),
        inputSize,
        { batchSize, ...(options.signal ? { signal: options.signal } : {}) },
      ),
      {
        total: split.fit.length,
        ...(options.signal ? { signal: options.signal } : {}),
        onProgress: (done, total, message) =>
          options.onProgress?.(message ?? 'fitting', done, total),
      },
    );
    options.onProgress?.('validating');
    const validation = await validate(detector, split, seed, batchSize);
    const calibration =
      validation.kind === 'labels'
        ? calibrate(
            [...validation.good, ...validation.defect],
            [...validation.good.map(() => 0), ...validation.defect.map(() => 1)],
          )
        : calibrate(validation.good);
    const metrics = metricsOf(validation, calibration);

    // The active model, judged on exactly the same validation images.
    const active = store.models.active(objectType);
    let previous: RetrainResult['previous'];
    if (active?.path) {
      const loaded = await loadDetectorModel(active.path);
      try {
        const old = await validate(loaded.detector, split, seed, batchSize);
        const oldMetrics = metricsOf(old, calibration);
        previous = { modelId: active.id, imageAuroc: oldMetrics.imageAuroc };
      } finally {
        loaded.detector.dispose();
      }
    }

    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const path = join(store.paths.models, objectType, `one-class-${stamp}`);
    await saveDetectorModel(path, detector, {
      kind: 'one-class',
      objectTypes: [objectType],
      inputSize,
      preprocessing: standardPreprocessing,
      threshold: calibration,
      metrics: { ...metrics },
      ...(active ? { parent: String(active.id) } : {}),
      training: { goodImages: split.fit.length, seed },
    });
    const activated = !previous || metrics.imageAuroc >= previous.imageAuroc;
    const modelId = store.models.insert({
      kind: 'one-class',
      name: `${objectType} one-class ${new Date().toISOString().slice(0, 16).replace('T', ' ')}`,
      objectTypes: [objectType],
      config: { encoder: 'mobilenetv3', inputSize, calibration, goodImages: split.fit.length },
      metrics: { ...metrics },
      path,
      parentId: active?.id ?? null,
      status: 'ready',
    });
    if (activated) store.models.activate(modelId);
    const reason = !previous
      ? 'first model of this type'
      : activated
        ? `validation AUROC ${metrics.imageAuroc.toFixed(3)} ≥ active model's ${previous.imageAuroc.toFixed(3)}`
        : `kept the active model: its validation AUROC ${previous.imageAuroc.toFixed(3)} beats the new ${metrics.imageAuroc.toFixed(3)}`;
    return {
      modelId,
      activated,
      reason,
      metrics,
      calibration,
      path,
      ...(previous ? { previous } : {}),
    };
  } finally {
    detector.dispose();
  }
}
