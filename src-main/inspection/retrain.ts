// One-click retrain for an object type, the main side: choose the good images (imported and
// reviewed) to fit on and the validation images (held-out good ones and every defect label,
// reviewed verdicts included), let the engine host fit, validate and save the model folder
// (engine/tasks/retrain.ts; with 20+ defect labels a classifier head competes), then record the model and activate it only if it is at least as
// good as the active model on the same validation images. Older versions stay for rollback.
import { join } from 'node:path';
import {
  DEFAULT_INPUT_SIZE,
  type ImageDto,
  type RetrainRequest,
  type RetrainSummary,
} from '../shared/dto.js';
import { BadArgumentError } from '../shared/errors.js';
import type { Store } from '../store/store.js';
import type { EngineClient } from '../jobs/engine-client.js';
import { checkFalseAlarmRate, type Calibration } from '../engine/threshold.js';
import {
  typeFalseAlarmRate,
  typeTileScale,
  typeDefectHead,
  typeViews,
} from '../shared/model-quality.js';
import { modelRoi } from '../shared/roi.js';
import { keptRegionLine, zeroShotRegion } from './inspect.js';
import type { ValidationMetrics } from '../engine/tasks/retrain.js';

export type { ValidationMetrics };

export const MIN_GOOD_IMAGES = 10;

/** A retrain request (the fields the UI and CLI send) and what only the main side sets. */
export interface RetrainOptions extends RetrainRequest {
  batchSize?: number;
  seed?: number;
  /** Defect labels from which a classifier head competes with the one-class model (default 20). */
  classifierMinDefects?: number;
  classifierEpochs?: number;
  onProgress?: (message: string, done?: number, total?: number) => void;
  onLog?: (line: string) => void;
  signal?: AbortSignal;
}

export interface RetrainResult extends RetrainSummary {
  metrics: ValidationMetrics & Record<string, unknown>;
  calibration: Calibration;
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

export async function retrainObjectType(
  deps: { store: Store; engine: EngineClient },
  options: RetrainOptions,
): Promise<RetrainResult> {
  const { store, engine } = deps;
  const { objectType } = options;
  const inputSize = options.inputSize ?? DEFAULT_INPUT_SIZE;
  if (store.objectTypes.idOf(objectType) === undefined) {
    throw new BadArgumentError(
      `No object type '${objectType}'. Import its images first (defectscope import <folder> --type ${objectType}).`,
    );
  }
  // Reviewed verdicts are labels with source 'review' (review/verdict adds them, creating the
  // image record when the inspected file was never imported), so they are in this list.
  const split = splitForRetrain(store.images.list({ objectTypes: [objectType] }));
  const goodCount = split.fit.length + split.validationGood.length;
  if (goodCount < MIN_GOOD_IMAGES || split.validationGood.length === 0) {
    throw new BadArgumentError(
      `Object type '${objectType}' has ${goodCount} good image(s); a model needs at least ${MIN_GOOD_IMAGES}. Import a folder of good parts named good/ (again, if it was imported unlabeled), mark images good in Datasets, review more, or confirm an inspection's OK images good (Inspect view, or defectscope review confirm-ok).`,
    );
  }
  const active = store.models.active(objectType);
  const falseAlarmRate = checkFalseAlarmRate(
    options.falseAlarmRate ?? typeFalseAlarmRate(active?.config),
  );
  // A type's first retrain keeps the region its latest zero-shot inspection was given.
  const carried = options.roi === undefined && !active ? zeroShotRegion(store, objectType) : null;
  const roi = options.roi !== undefined ? options.roi : (carried?.roi ?? modelRoi(active?.config));
  const tileScale =
    options.tileScale !== undefined ? options.tileScale : typeTileScale(active?.config);
  const defectHead = options.defectHead ?? typeDefectHead(active?.config);
  const views = options.views ?? typeViews(active?.config);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const out = join(store.paths.models, objectType, `retrain-${stamp}`);
  if (carried) options.onLog?.(keptRegionLine(carried, objectType));
  options.onLog?.(
    `fitting on ${split.fit.length} good images; validating on ${split.validationGood.length} good and ` +
      `${split.validationDefect.length || 'synthetic'} defect images`,
  );
  const fitted = await engine.run(
    'retrain',
    {
      objectType,
      fit: split.fit.map((i) => i.path),
      validationGood: split.validationGood.map((i) => i.path),
      validationDefect: split.validationDefect.map((i) => i.path),
      activePath: active?.path ?? null,
      encoderFrom: options.encoderFrom ?? null,
      parent: active ? String(active.id) : null,
      out,
      inputSize,
      ...(options.scales ? { scales: options.scales } : {}),
      ...(options.centredScales ? { centredScales: options.centredScales } : {}),
      ...(options.layers ? { layers: options.layers } : {}),
      tileScale,
      defectHead,
      views,
      falseAlarmRate,
      roi,
      batchSize: options.batchSize ?? 16,
      seed: options.seed ?? 1,
      ...(options.classifierMinDefects
        ? { classifierMinDefects: options.classifierMinDefects }
        : {}),
      ...(options.classifierEpochs ? { classifierEpochs: options.classifierEpochs } : {}),
    },
    {
      ...(options.signal ? { signal: options.signal } : {}),
      onProgress: (done, total, message) => options.onProgress?.(message ?? 'fitting', done, total),
      ...(options.onLog ? { onLog: options.onLog } : {}),
    },
  );
  const { metrics, calibration } = fitted;
  const previous =
    active && fitted.previousAuroc !== null
      ? { modelId: active.id, imageAuroc: fitted.previousAuroc }
      : undefined;
  // A defect head judged on painted defects is compared by its bank's figure (ValidationMetrics).
  const judged = metrics.bankAuroc ?? metrics.imageAuroc;
  const activated = !previous || judged >= previous.imageAuroc;
  const modelId = store.models.insert({
    kind: fitted.kind,
    name: `${objectType} ${fitted.kind} ${new Date().toISOString().slice(0, 16).replace('T', ' ')}`,
    objectTypes: [objectType],
    config: {
      encoder: fitted.encoder,
      inputSize,
      calibration,
      falseAlarmRate,
      ...(fitted.layers ? { layers: fitted.layers } : {}),
      ...(fitted.layerChoice ? { layerChoice: fitted.layerChoice } : {}),
      ...(roi ? { roi } : {}),
      tileScale,
      // The check when one was trained; false when asked off, so the type keeps it off.
      ...(fitted.defectHead
        ? { defectHead: fitted.defectHead }
        : defectHead
          ? {}
          : { defectHead: false }),
      ...(fitted.augmented ? { augmented: true } : {}),
      ...(fitted.defectMemory ? { defectMemory: fitted.defectMemory } : {}),
      ...(fitted.places ? { places: fitted.places } : {}),
      // Set by hand, so the type keeps it.
      ...(views !== 'auto' ? { views } : {}),
      goodImages: split.fit.length,
      reviewedLabels:
        split.fit.length + split.validationGood.length + split.validationDefect.length,
    },
    metrics: { ...metrics },
    path: fitted.path,
    parentId: active?.id ?? null,
    status: 'ready',
    validation: fitted.validation,
  });
  if (activated) store.models.activate(modelId);
  const reason = !previous
    ? 'first model of this type'
    : activated
      ? `validation AUROC ${judged.toFixed(3)} ≥ active model's ${previous.imageAuroc.toFixed(3)}`
      : `kept the active model: its validation AUROC ${previous.imageAuroc.toFixed(3)} beats the new ${judged.toFixed(3)}`;
  return {
    modelId,
    kind: fitted.kind,
    activated,
    reason,
    metrics: { ...metrics },
    calibration,
    path: fitted.path,
    roi,
    ...(carried ? { roiFromInspection: carried.inspectionId } : {}),
    ...(fitted.layers ? { layers: fitted.layers, layerChoice: fitted.layerChoice } : {}),
    ...(fitted.defectHead ? { defectHead: fitted.defectHead } : {}),
    ...(fitted.augmented ? { augmented: true } : {}),
    ...(fitted.defectMemory ? { defectMemory: fitted.defectMemory } : {}),
    ...(fitted.places ? { places: fitted.places } : {}),
    ...(previous ? { previous } : {}),
  };
}
