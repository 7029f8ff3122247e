// The engine half of a one-click retrain: fit a one-class model on the good images the owner
// chose, validate it on held-out good images and defect labels (or defects painted into the
// held-out good images when there are none yet), judge the active model on the same images, and
// save the new model folder atomically. The owner reads the store before and records the model
// row after. Unless told which feature maps to use, each of LAYER_CANDIDATES is fitted and the
// one that validates best is kept.
import type { FeatureName, LayerChoiceDto } from '../../shared/dto.js';
import type { Roi } from '../../shared/roi.js';
import { initBackend } from '../backend.js';
import { decodedBatches } from '../decoded-batches.js';
import type { Detector, FitBatch } from '../detectors/detector.js';
import { defaultPatchFeatures, oneClassScoring } from '../detectors/patch-features.js';
import { defaultDefectHeadConfig } from '../detectors/patchcore/defect-head.js';
import type { LearnedPlaces } from '../detectors/places.js';
import {
  defectHeadCheck,
  learnPlaces,
  learnReviewedDefects,
  withoutLearned,
} from '../detectors/patchcore/patchcore.js';
import {
  AUGMENTED,
  candidateLabel,
  defectHeadLine,
  defectMemoryLine,
  placesLine,
  placesOrViewsKept,
  learnsViews,
} from '../../shared/model-quality.js';
import type {
  DefectHeadCheckDto,
  DefectMemoryDto,
  ModelValidationDto,
  PlacesDto,
} from '../../shared/dto.js';
import { detectorEntry } from '../detectors/registry.js';
import type { Encoder } from '../encoders/encoder.js';
import { createEncoder } from '../encoders/registry.js';
import { sharedAspect } from '../input-shape.js';
import { atThreshold, imageMetrics, validationAuroc, withLabels } from '../metrics.js';
import {
  loadDetectorModel,
  loadModel,
  saveDetectorModel,
  standardPreprocessing,
} from '../model-files.js';
import { rawScores } from '../raw-scores.js';
import {
  chooseLayers,
  judgeOnPainted,
  layerChoiceLine,
  type FeatureCandidate,
} from '../layer-choice.js';
import { paintedDefectScores } from '../synthetic-defects.js';
import { calibrate, normalise, type Calibration } from '../threshold.js';
import type { RetrainArgs, TaskContext } from './args.js';

export interface ValidationMetrics {
  /** 'labels': defect labels of the type; 'synthetic': defects painted into held-out good images. */
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
  /**
   * With a defect head, places or views judged on painted defects: the memory bank's AUROC alone,
   * on the images as they are. The head learned from painted defects, and the places and views
   * were kept for doing better on them, so the figures above are optimistic; this one is not, and
   * it is the one the model is compared on (bank against bank: an active model's places were
   * learned from these same images).
   */
  bankAuroc?: number;
  /**
   * With places kept: the bank with its places, each half of the held-out images judged by the
   * places of the other (PlacesDto.placedAuroc), the model as it inspects less its head. The one
   * it is warned on: the bank alone would warn of a model that separates (kolektor: 0.895 alone,
   * 0.946 with its places, real defects 0.941).
   */
  placesAuroc?: number;
}

export interface FittedModel {
  /** The detector that won on validation and was saved. */
  kind: 'one-class' | 'classifier';
  path: string;
  metrics: ValidationMetrics;
  calibration: Calibration;
  /** The validation images' scores as the model inspects them: the Models view's curves. */
  validation: ModelValidationDto;
  /** The active model's validation AUROC on the same images, when there is one. */
  previousAuroc: number | null;
  encoder: string;
  /** One-class: its feature maps, and the validation that chose them (null when told). */
  layers: FeatureName[] | null;
  layerChoice: LayerChoiceDto | null;
  /** One-class asked for the defect head: its check (null otherwise). */
  defectHead: DefectHeadCheckDto | null;
  /** One-class fitted on few good images, mirrored and turned too (PatchcoreConfig.augment). */
  augmented: boolean;
  /** One-class validated on reviewed defects: what they taught (defect-memory.ts). */
  defectMemory: DefectMemoryDto | null;
  /** One-class without defect labels: whether it scores relative to each place (PlacesDto). */
  places: PlacesDto | null;
}

interface Validation {
  good: number[];
  defect: number[];
  kind: ValidationMetrics['defects'];
}

async function scoresOf(
  detector: Detector,
  paths: string[],
  batchSize: number,
  signal: AbortSignal,
  roi: Roi | null,
): Promise<number[]> {
  const scores: number[] = [];
  for await (const batch of rawScores(detector, paths, { batchSize, signal, roi }))
    scores.push(...batch.map((r) => r.score));
  return scores;
}

/**
 * Scores of `args`' validation images; `roi` is the region the detector was fitted on (the
 * active model keeps its own), so each is judged on what it would score in an inspection.
 */
async function validate(
  detector: Detector,
  args: RetrainArgs,
  signal: AbortSignal,
  roi: Roi | null,
): Promise<Validation> {
  const good = await scoresOf(detector, args.validationGood, args.batchSize, signal, roi);
  if (args.validationDefect.length > 0) {
    return {
      good,
      defect: await scoresOf(detector, args.validationDefect, args.batchSize, signal, roi),
      kind: 'labels',
    };
  }
  return {
    good,
    defect: await paintedDefectScores(detector, args.validationGood, args.seed, {
      batchSize: args.batchSize,
      signal,
      roi,
    }),
    kind: 'synthetic',
  };
}

function metricsOf(v: Validation, calibration: Calibration): ValidationMetrics {
  const { scores, labels } = withLabels(v.good, v.defect);
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
    falseAlarmRate: at.falseAlarmRate,
  };
}

/** `v`'s scores on the 0..1 scale `calibration` gives them (threshold 0.5), with their truth. */
function curvesOf(v: Validation, calibration: Calibration): ModelValidationDto {
  const { scores, labels } = withLabels(v.good, v.defect);
  return { scores: scores.map((score) => normalise(score, calibration)), labels, defects: v.kind };
}

/** The pretrained MobileNetV3, or the encoder of a model folder (a SimCLR run on own images). */
async function encoderFor(args: RetrainArgs): Promise<{ encoder: Encoder; name: string }> {
  if (!args.encoderFrom) {
    return {
      encoder: await createEncoder('mobilenetv3', { inputSize: args.inputSize }),
      name: 'mobilenetv3',
    };
  }
  const model = await loadModel(args.encoderFrom);
  // The detector owns the encoder from here; a head, if any, is not needed.
  model.head?.dispose();
  return { encoder: model.encoder, name: args.encoderFrom };
}

/** Decoded batches with the label of each file, as a classifier fits on them. */
async function* labeledBatches(
  paths: string[],
  labels: Map<string, number>,
  args: RetrainArgs,
  signal: AbortSignal,
): AsyncGenerator<FitBatch & { paths: string[] }> {
  for await (const batch of decodedBatches(paths, args.inputSize, {
    batchSize: args.batchSize,
    signal,
    roi: args.roi,
  }))
    yield { ...batch, labels: batch.paths.map((p) => labels.get(p) ?? 0) };
}

/**
 * The threshold flags the stated share of held-out good images, whatever the defects: an inspector
 * sets how many good parts may go to review, and the validation says how many defects that
 * catches (an F1-best cut would move the false alarms with the mix of the validation set).
 */
function calibrationOf(v: Validation, falseAlarmRate: number): Calibration {
  return calibrate(v.good, undefined, { percentile: 1 - falseAlarmRate });
}

/**
 * The seed's downstream task, once the type has enough defect labels: a classifier head on the
 * pretrained encoder, trained on the fit images and half the defects. Returns it with its
 * validation on `judged` (the held-out good images and the other half of the defects).
 */
async function fitClassifier(
  args: RetrainArgs,
  trainDefects: string[],
  judged: RetrainArgs,
  ctx: TaskContext,
): Promise<{ detector: Detector; validation: Validation }> {
  const detector = detectorEntry('classifier').create(
    await createEncoder('mobilenetv3', { inputSize: args.inputSize }),
    {
      inputSize: args.inputSize,
      seed: args.seed,
      epochs: args.classifierEpochs,
      batchSize: args.batchSize,
    },
  );
  try {
    const labels = new Map<string, number>([
      ...args.fit.map((p): [string, number] => [p, 0]),
      ...trainDefects.map((p): [string, number] => [p, 1]),
    ]);
    await detector.fit(labeledBatches([...args.fit, ...trainDefects], labels, args, ctx.signal), {
      signal: ctx.signal,
      onProgress: (done, total) => ctx.progress(done, total, 'training the classifier head'),
    });
    return { detector, validation: await validate(detector, judged, ctx.signal, args.roi) };
  } catch (error) {
    detector.dispose();
    throw error;
  }
}

/** A one-class detector on `candidate`, fitted on the fit images and validated on `judged`'s. */
async function fitOneClass(
  args: RetrainArgs,
  { layers, augmented }: FeatureCandidate,
  aspect: number,
  judged: RetrainArgs,
  step: string,
  ctx: TaskContext,
): Promise<{
  detector: Detector;
  validation: Validation;
  auroc: number;
  bankAuroc: number | null;
  encoder: string;
}> {
  const { inputSize, scales, centredScales, tileScale, batchSize, seed, roi } = args;
  ctx.progress(0, args.fit.length, `fitting on ${args.fit.length} good images${step}`);
  const { encoder, name } = await encoderFor(args);
  const detector = detectorEntry('one-class').create(encoder, {
    inputSize,
    aspect,
    scales,
    centredScales,
    features: { ...defaultPatchFeatures, layers },
    tileScale,
    ...(args.defectHead ? { head: defaultDefectHeadConfig } : {}),
    augment: augmented,
    imageScoring: oneClassScoring(args.fit.length, judged.validationDefect.length),
    seed,
  });
  try {
    await detector.fit(
      decodedBatches(args.fit, detector.inputShape, {
        batchSize,
        signal: ctx.signal,
        roi,
        // Said, not just skipped: a region that misses the images would otherwise leave only
        // "no good images" to go on.
        onFailure: (failure) => ctx.log(`left out of fitting: ${failure.message}`),
      }),
      {
        total: args.fit.length,
        signal: ctx.signal,
        onProgress: (done, total, message) =>
          ctx.progress(done, total, `${message ?? 'fitting'}${step}`),
      },
    );
    ctx.progress(0, 0, `validating${step}`);
    const onPainted = await judgeOnPainted(detector, judged.validationGood, judged.seed, {
      batchSize,
      signal: ctx.signal,
      roi,
    });
    const validation: Validation =
      judged.validationDefect.length > 0
        ? {
            good: onPainted.good,
            defect: await scoresOf(detector, judged.validationDefect, batchSize, ctx.signal, roi),
            kind: 'labels',
          }
        : { good: onPainted.good, defect: onPainted.painted, kind: 'synthetic' };
    // With defect labels, the mean of both: ten of them alone misranked a real type's feature maps
    // (EVALUATION.md, Defects labeled or reviewed), and painted defects alone do not see the
    // type's own.
    const auroc =
      validation.kind === 'labels'
        ? (onPainted.auroc + validationAuroc(validation.good, validation.defect)) / 2
        : onPainted.auroc;
    return {
      detector,
      validation,
      auroc,
      bankAuroc: validation.kind === 'synthetic' ? onPainted.bankAuroc : null,
      encoder: name,
    };
  } catch (error) {
    detector.dispose();
    throw error;
  }
}

/**
 * The reviewed defects taught to the chosen one-class model (defect-memory.ts). Each defect is then
 * judged by the memory of the half it is not in, so the validation stays honest; the good images
 * are scored again, by the model as it will inspect. Null when nothing was learned.
 */
async function learnDefects(
  detector: Detector,
  judged: RetrainArgs,
  validation: Validation,
  ctx: TaskContext,
): Promise<{ check: DefectMemoryDto; validation: Validation } | null> {
  ctx.progress(0, 0, `learning ${judged.validationDefect.length} labeled defects`);
  const batches = (paths: string[]) =>
    decodedBatches(paths, detector.inputShape, {
      batchSize: judged.batchSize,
      signal: ctx.signal,
      roi: judged.roi,
      onFailure: (failure) => ctx.log(`left out of learning the defects: ${failure.message}`),
    });
  const learned = await learnReviewedDefects(
    detector,
    batches(judged.validationDefect),
    batches(judged.validationGood),
    ctx.signal,
  );
  if (!learned) return null;
  ctx.log(defectMemoryLine(learned.check));
  if (learned.check.weight === 0) return { check: learned.check, validation };
  return {
    check: learned.check,
    validation: {
      good: await scoresOf(
        detector,
        judged.validationGood,
        judged.batchSize,
        ctx.signal,
        judged.roi,
      ),
      defect: learned.outOfFold,
      kind: 'labels',
    },
  };
}

/**
 * Each place's normal (places.ts) learned by the chosen one-class model from the held-out good
 * images, where its check keeps it; null when nothing was tried (a tiled model, too few images).
 */
async function learnPlacesOf(
  detector: Detector,
  judged: RetrainArgs,
  ctx: TaskContext,
): Promise<LearnedPlaces | null> {
  ctx.progress(0, 0, 'learning each place of the part');
  const learned = await learnPlaces(
    detector,
    decodedBatches(judged.validationGood, detector.inputShape, {
      batchSize: judged.batchSize,
      signal: ctx.signal,
      roi: judged.roi,
      onFailure: (failure) => ctx.log(`left out of learning the places: ${failure.message}`),
    }),
    judged.seed,
    ctx.signal,
    judged.views,
  );
  if (learned) ctx.log(placesLine(learned.check));
  return learned;
}

export async function fitOneClassModel(args: RetrainArgs, ctx: TaskContext): Promise<FittedModel> {
  await initBackend();
  const { inputSize, seed } = args;
  const aspect = await sharedAspect(args.fit, args.roi);
  // With enough defect labels, half of them train a classifier head and the other half judge
  // both candidates on equal terms; the better one (by validation AUROC) is the new model.
  const withClassifier = args.validationDefect.length >= args.classifierMinDefects;
  const trainDefects = withClassifier ? args.validationDefect.filter((_, i) => i % 2 === 0) : [];
  const judged: RetrainArgs = withClassifier
    ? { ...args, validationDefect: args.validationDefect.filter((_, i) => i % 2 === 1) }
    : args;
  // The same validation images (the same painted defects: one seed) judge every candidate.
  const {
    chosen,
    layers,
    augmented,
    choice: layerChoice,
  } = await chooseLayers(
    args.layers,
    learnsViews(args.fit.length, args.tileScale),
    (candidate, { index, count }) => {
      const step =
        count > 1 ? ` (features ${index + 1} of ${count}: ${candidateLabel(candidate)})` : '';
      return fitOneClass(args, candidate, aspect, judged, step, ctx);
    },
  );
  let { detector, validation } = chosen;
  const name = chosen.encoder;
  if (layerChoice) ctx.log(layerChoiceLine(layerChoice));
  const headCheck = defectHeadCheck(detector);
  if (headCheck) ctx.log(defectHeadLine(headCheck));
  if (augmented) ctx.log(AUGMENTED);
  try {
    let defectMemory: DefectMemoryDto | null = null;
    let places: PlacesDto | null = null;
    if (validation.kind === 'labels') {
      const learned = await learnDefects(detector, judged, validation, ctx);
      if (learned) ({ check: defectMemory, validation } = learned);
    } else {
      const learned = await learnPlacesOf(detector, judged, ctx);
      if (learned) {
        places = learned.check;
        // Each held-out image as the model now scores it (in views, and as the places it did
        // not teach score it): honest figures.
        if (placesOrViewsKept(learned.check))
          validation = { good: learned.good, defect: learned.painted, kind: 'synthetic' };
      }
    }
    let calibration = calibrationOf(validation, args.falseAlarmRate);
    let metrics: ValidationMetrics = {
      ...metricsOf(validation, calibration),
      // Places or views kept for the painted defects: compared on the bank alone, as a head is.
      ...(chosen.bankAuroc !== null
        ? { bankAuroc: chosen.bankAuroc }
        : placesOrViewsKept(places)
          ? { bankAuroc: chosen.auroc }
          : {}),
      ...(places?.used ? { placesAuroc: places.placedAuroc } : {}),
    };
    let kind: FittedModel['kind'] = 'one-class';
    if (withClassifier) {
      const classifier = await fitClassifier(args, trainDefects, judged, ctx);
      const classifierCalibration = calibrationOf(classifier.validation, args.falseAlarmRate);
      const classifierMetrics = metricsOf(classifier.validation, classifierCalibration);
      ctx.log(
        `validation AUROC: one-class ${metrics.imageAuroc.toFixed(3)}, classifier head ${classifierMetrics.imageAuroc.toFixed(3)}`,
      );
      if (classifierMetrics.imageAuroc > metrics.imageAuroc) {
        detector.dispose();
        detector = classifier.detector;
        validation = classifier.validation;
        calibration = classifierCalibration;
        metrics = classifierMetrics;
        kind = 'classifier';
      } else {
        classifier.detector.dispose();
      }
    }

    // The active model, judged on exactly the same validation images.
    let previousAuroc: number | null = null;
    if (args.activePath) {
      ctx.progress(0, 0, 'validating the active model on the same images');
      const loaded = await loadDetectorModel(args.activePath);
      try {
        const judge = () =>
          validate(loaded.detector, args, ctx.signal, loaded.manifest.roi ?? null);
        // On painted defects, a model with a defect head is judged on its bank alone, as the new
        // one. On reviewed defects, without the memory it may have learned from these very defects.
        previousAuroc = metricsOf(
          (await withoutLearned(
            loaded.detector,
            // Places learned from these very good images would favour it: without them too.
            [args.validationDefect.length === 0 ? 'head' : 'memory', 'places'],
            judge,
          )) ?? (await judge()),
          calibration,
        ).imageAuroc;
      } finally {
        loaded.detector.dispose();
      }
    }
    await saveDetectorModel(args.out, detector, {
      kind,
      objectTypes: [args.objectType],
      inputSize,
      preprocessing: standardPreprocessing,
      ...(args.roi ? { roi: args.roi } : {}),
      threshold: calibration,
      metrics: { ...metrics },
      ...(args.parent ? { parent: args.parent } : {}),
      training: {
        goodImages: args.fit.length,
        defectImages: trainDefects.length,
        seed,
        encoder: name,
        ...(kind === 'one-class'
          ? {
              layers,
              layerChoice,
              defectHead: headCheck,
              ...(defectMemory ? { defectMemory } : {}),
              ...(places ? { places } : {}),
              ...(augmented ? { augmented } : {}),
            }
          : {}),
      },
    });
    return {
      kind,
      path: args.out,
      metrics,
      calibration,
      validation: curvesOf(validation, calibration),
      previousAuroc,
      encoder: name,
      layers: kind === 'one-class' ? layers : null,
      layerChoice: kind === 'one-class' ? layerChoice : null,
      defectHead: kind === 'one-class' ? headCheck : null,
      augmented: kind === 'one-class' && augmented,
      defectMemory: kind === 'one-class' ? defectMemory : null,
      places: kind === 'one-class' ? places : null,
    };
  } finally {
    detector.dispose();
  }
}
