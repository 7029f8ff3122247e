// The seed paper's unknown-context protocol as a function: encoders and heads may learn from the
// "pretrain" object types only; every metric is measured on "test" types never seen in training.
// One-class fits on each test type's own good images, zero-shot sees only its test folder, and
// the classifier and baseline train on the pretrain types' labels exactly as the seed did.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanDataset, type ScanEntry } from '../data/importers/scan.js';
import { decodeImage } from '../data/image-io.js';
import type {
  DefectHeadCheckDto,
  DefectMemoryDto,
  EvalMetricsDto,
  EvalTypeResultDto,
  LayerChoiceDto,
  PlacesDto,
  ViewsChoice,
} from '../shared/dto.js';
import { BadArgumentError, CancelledError } from '../shared/errors.js';
import { Rng } from '../shared/random.js';
import type { Roi } from '../shared/roi.js';
import {
  EvidenceClassifier,
  EvidenceHead,
  type EvidenceSample,
} from './detectors/classifier/evidence-classifier.js';
import type { Detector } from './detectors/detector.js';
import { detectorEntry } from './detectors/registry.js';
import { asZeroShot, zeroShotFeatures } from './detectors/zero-shot/mutual-scoring.js';
import type { Encoder, FeatureName } from './encoders/encoder.js';
import {
  defaultPatchFeatures,
  oneClassScoring,
  type ImageScoring,
} from './detectors/patch-features.js';
import { defaultDefectHeadConfig } from './detectors/patchcore/defect-head.js';
import {
  defectHeadCheck,
  learnPlaces,
  learnReviewedDefects,
} from './detectors/patchcore/patchcore.js';
import {
  AUGMENTED,
  candidateLabel,
  defectHeadLine,
  defectMemoryLine,
  learnsViews,
  placesLine,
  placesOrViewsKept,
} from '../shared/model-quality.js';
import { createEncoder, loadEncoder } from './encoders/registry.js';
import {
  classifierConfig,
  predictDefect,
  trainClassifier,
  type LabeledImage,
} from './heads/classifier.js';
import { decodedBatches, type DecodedBatchOptions } from './decoded-batches.js';
import { ImageBatchLoader, widthHeight, type InputShape } from './image-batches.js';
import { sharedAspect } from './input-shape.js';
import {
  PixelAuroc,
  atThreshold,
  imageMetrics,
  recallAtFalseAlarmRate,
  validationAuroc,
} from './metrics.js';
import { chooseLayers, judgeOnPainted, layerChoiceLine } from './layer-choice.js';
import { MANIFEST_FILE, loadModel } from './model-files.js';
import { simclrConfig, trainSimclr } from './ssl/simclr.js';
import { calibrate, type Calibration } from './threshold.js';

export type EvalDetector = 'one-class' | 'zero-shot' | 'classifier' | 'baseline';
export type ClassifierInput = 'evidence' | 'embedding';
export const classifierInputs: ClassifierInput[] = ['evidence', 'embedding'];
export const evalDetectors: EvalDetector[] = ['one-class', 'zero-shot', 'classifier', 'baseline'];

export interface EvalOptions {
  root: string;
  pretrainTypes: string[];
  testTypes: string[];
  detector: EvalDetector;
  /**
   * 'mobilenetv3' | 'inceptionv3' | 'resnet-simclr' | 'mobilenetv3-simclr' | a saved encoder or
   * model folder.
   */
  encoder: string;
  /** Good images one-class may fit on (all when absent). */
  shots?: number;
  /** One-class: image scales to take patch features at, relative to inputSize (default [1]). */
  scales?: number[];
  /** One-class: the scales judged relative to each image (PatchcoreConfig.centredScales). */
  centredScales?: number[];
  /** Patch detectors and the evidence head: the feature maps (default: the detector's). */
  layers?: FeatureName[];
  /** Patch detectors: the short side images are scored at in tiles of inputSize (untiled when absent). */
  tileScale?: number;
  /** One-class: the defect head trained on painted defects (PatchcoreConfig.head); default on. */
  defectHead?: boolean;
  /** One-class: each image also scored mirrored and turned (ViewsChoice); default 'auto'. */
  views?: ViewsChoice;
  /**
   * One-class: this many of each test type's defects (a seeded sample) play reviewed defects, as
   * retrain gets them from the inspector: they judge the feature maps instead of painted defects
   * and teach the model (defect-memory.ts); the metrics are measured on the rest.
   */
  reviewed?: number;
  inputSize: number;
  /**
   * One-class and zero-shot: a region of interest (image pixels) the test types' images and masks
   * are cropped to, as a type's model crops them; one camera's framing, so one test type at a time.
   */
  roi?: Roi;
  /** SimCLR epochs for the -simclr encoders; classifier/baseline epochs. */
  epochs: number;
  /**
   * What the classifier's head reads: 'evidence' (default) — the image's patch distances to
   * other images of its own type; 'embedding' — the pooled embedding, as the seed's head did.
   */
  head?: ClassifierInput;
  batchSize: number;
  seed: number;
  onProgress?: (message: string) => void;
  signal?: AbortSignal;
}

/** The metrics of one test type, or their mean: the report's shape is the one the UI reads. */
export type TypeMetrics = EvalMetricsDto;

export interface TypeResult extends EvalTypeResultDto {
  threshold_method: Calibration['method'] | 'classifier-validation';
}

export interface EvalReport {
  detector: EvalDetector;
  encoder: string;
  /** What the classifier's head read; null for the other detectors. */
  classifier_head: ClassifierInput | null;
  input_size: number;
  shots: number | null;
  /** One-class: the image scales patch features were taken at. */
  scales: number[] | null;
  /** One-class: the scales judged relative to each image. */
  centred_scales: number[] | null;
  /** The feature maps patch features came from, when --layers chose them. */
  layers: FeatureName[] | null;
  /** Patch detectors: the short side images were scored at in tiles of input_size; null untiled. */
  tile_scale: number | null;
  /** One-class: whether the defect head was added; null for the other detectors. */
  defect_head: boolean | null;
  /** One-class: how the views were set (ViewsChoice); null for the other detectors. */
  views: ViewsChoice | null;
  /** One-class: defects of each test type that played reviewed ones (left out of the metrics). */
  reviewed: number | null;
  pretrain_types: string[];
  test_types: string[];
  types: TypeResult[];
  /** Mean over test types (the MVTec convention); pixel AUROC over types that have masks. */
  overall: TypeMetrics;
  seconds: number;
}

interface TypeData {
  trainGood: ScanEntry[];
  test: ScanEntry[];
}

function typeData(root: string, type: string): TypeData {
  const dir = join(root, type);
  if (!existsSync(dir))
    throw new BadArgumentError(`Object type '${type}' not found: no folder ${dir}.`);
  const { entries } = scanDataset(dir, { layout: 'mvtec', objectType: type });
  return {
    trainGood: entries.filter((e) => e.split === 'train' && e.label === 'good'),
    test: entries.filter((e) => e.split === 'test' && e.label !== null),
  };
}

function checkOptions(options: EvalOptions): void {
  if (!evalDetectors.includes(options.detector)) {
    throw new BadArgumentError(
      `--detector must be one of ${evalDetectors.join(', ')}, not '${options.detector}'.`,
    );
  }
  if (options.testTypes.length === 0)
    throw new BadArgumentError('Name at least one --test-types type.');
  const overlap = options.testTypes.filter((t) => options.pretrainTypes.includes(t));
  if (overlap.length > 0) {
    throw new BadArgumentError(
      `${overlap.join(', ')} cannot be both a pretrain and a test type: the protocol tests on unseen types.`,
    );
  }
  if (options.roi && options.detector !== 'one-class' && options.detector !== 'zero-shot')
    throw new BadArgumentError('--roi applies to --detector one-class and zero-shot only.');
  const needsPretrain =
    options.detector === 'classifier' ||
    options.detector === 'baseline' ||
    options.encoder.endsWith('-simclr');
  if (needsPretrain && options.pretrainTypes.length === 0) {
    throw new BadArgumentError(
      `--detector ${options.detector} with --encoder ${options.encoder} learns from --pretrain-types; name at least one.`,
    );
  }
}

/**
 * Builds the encoder factory: each detector owns (and disposes) its encoder, so a trained
 * encoder is saved once and reloaded per test type.
 */
async function prepareEncoder(
  options: EvalOptions,
  workDir: string,
): Promise<() => Promise<Encoder>> {
  const { encoder, inputSize } = options;
  if (encoder === 'mobilenetv3' || encoder === 'inceptionv3')
    return () => createEncoder(encoder, { inputSize });
  if (encoder === 'resnet-simclr' || encoder === 'mobilenetv3-simclr') {
    const images = options.pretrainTypes.flatMap((type) => {
      const data = typeData(options.root, type);
      return [...data.trainGood, ...data.test].map((e) => e.path);
    });
    const trainable = await createEncoder(
      encoder === 'resnet-simclr' ? 'resnet' : 'mobilenetv3-trainable',
      { inputSize },
    );
    try {
      options.onProgress?.(
        `SimCLR on ${images.length} images of ${options.pretrainTypes.join(', ')}`,
      );
      const result = await trainSimclr({
        encoder: trainable,
        config: simclrConfig(images, {
          epochs: options.epochs,
          batchSize: options.batchSize,
          inputSize,
          seed: options.seed,
        }),
        ...(options.signal ? { signal: options.signal } : {}),
        onProgress: (step, total, loss) => {
          if (step % 10 === 0 || step === total)
            options.onProgress?.(`SimCLR step ${step}/${total} loss ${loss.toFixed(3)}`);
        },
      });
      const losses = result.losses.filter((l): l is number => l !== null);
      options.onProgress?.(
        `SimCLR done: loss ${losses[0]?.toFixed(3)} → ${losses.at(-1)?.toFixed(3)}`,
      );
      await trainable.save(join(workDir, 'encoder'));
    } finally {
      trainable.dispose();
    }
    return () => loadEncoder(join(workDir, 'encoder'));
  }
  if (existsSync(join(encoder, MANIFEST_FILE))) {
    return async () => {
      const model = await loadModel(encoder);
      model.head?.dispose();
      return model.encoder;
    };
  }
  if (existsSync(join(encoder, 'encoder.json'))) return () => loadEncoder(encoder);
  throw new BadArgumentError(
    `--encoder '${encoder}' is neither mobilenetv3, inceptionv3, resnet-simclr, mobilenetv3-simclr nor a saved encoder or model folder.`,
  );
}

function metricsOf(
  scores: number[],
  labels: number[],
  calibration: Calibration | { threshold: number },
  pixel: number | null,
): TypeMetrics {
  const image = imageMetrics(scores, labels);
  const at = atThreshold(scores, labels, calibration.threshold);
  return {
    image_auroc: image.imageAuroc,
    average_precision: image.averagePrecision,
    f1_max: image.f1Max,
    precision: at.precision,
    recall: at.recall,
    f1: at.f1,
    accuracy: at.accuracy,
    balanced_accuracy: at.balancedAccuracy,
    recall_at_1pct_fpr: recallAtFalseAlarmRate(scores, labels, 0.01),
    recall_at_5pct_fpr: recallAtFalseAlarmRate(scores, labels, 0.05),
    false_alarm_rate: at.falseAlarmRate,
    pixel_auroc: pixel,
  };
}

function batchOptions(
  loader: ImageBatchLoader,
  options: EvalOptions,
  failed: string[],
): DecodedBatchOptions {
  return {
    loader,
    batchSize: options.batchSize,
    onFailure: (failure) => failed.push(failure.path),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.roi ? { roi: options.roi } : {}),
  };
}

async function maskPixels(path: string, shape: InputShape, roi?: Roi): Promise<Uint8Array> {
  const { data, width, height } = await decodeImage(path, {
    size: widthHeight(shape),
    ...(roi ? { roi } : {}),
  });
  const mask = new Uint8Array(width * height);
  for (let i = 0; i < mask.length; i++) mask[i] = data[i * 3]! > 0.5 ? 1 : 0;
  return mask;
}

/** Scores test entries with a fitted detector; pixel AUROC from the masks where there are any. */
async function scoreEntries(
  detector: Detector,
  loader: ImageBatchLoader,
  entries: ScanEntry[],
  options: EvalOptions,
  failed: string[],
): Promise<{ scores: number[]; labels: number[]; pixel: number | null }> {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const withMasks = entries.some((e) => e.maskPath);
  const scores: number[] = [];
  const labels: number[] = [];
  const maps: { data: Float32Array; entry: ScanEntry }[] = [];
  for await (const batch of decodedBatches(
    entries.map((e) => e.path),
    detector.inputShape,
    batchOptions(loader, options, failed),
  )) {
    if (options.signal?.aborted) throw new CancelledError('Evaluation was cancelled.');
    const results = await detector.score(batch.images, { anomalyMaps: withMasks });
    results.forEach((result, i) => {
      const entry = byPath.get(batch.paths[i]!)!;
      scores.push(result.score);
      labels.push(entry.label === 'defect' ? 1 : 0);
      if (withMasks && result.anomalyMap) maps.push({ data: result.anomalyMap.data, entry });
    });
  }
  let pixel: number | null = null;
  if (maps.length > 0) {
    let low = Infinity;
    let high = -Infinity;
    for (const { data } of maps) {
      for (const v of data) {
        if (v < low) low = v;
        if (v > high) high = v;
      }
    }
    const accumulator = new PixelAuroc(low, high > low ? high : low + 1);
    for (const { data, entry } of maps) {
      // Good test images have no mask: every pixel is normal.
      const mask = entry.maskPath
        ? await maskPixels(entry.maskPath, detector.inputShape, options.roi)
        : new Uint8Array(data.length);
      accumulator.add(data, mask);
    }
    try {
      pixel = accumulator.value();
    } catch {
      pixel = null; // masks without defect pixels
    }
  }
  return { scores, labels, pixel };
}

/** Fits a detector on image files (good images, an unlabeled folder: as the detector needs). */
async function fitOn(
  detector: Detector,
  loader: ImageBatchLoader,
  entries: ScanEntry[],
  options: EvalOptions,
  failed: string[],
): Promise<void> {
  await detector.fit(
    decodedBatches(
      entries.map((e) => e.path),
      detector.inputShape,
      batchOptions(loader, options, failed),
    ),
    { total: entries.length },
  );
}

/**
 * A classifier's threshold: F1-max on the pretrain types' validation images (the test types stay
 * unseen); 0.5 when the validation images are all of one class.
 */
function validationThreshold(scores: number[], labels: number[]): number {
  return labels.includes(1) && labels.includes(0) ? calibrate(scores, labels).threshold : 0.5;
}

function sample<T>(items: T[], count: number, seed: number): T[] {
  return new Rng(seed).shuffle([...items]).slice(0, count);
}

/**
 * The defects of a type that play reviewed ones (EvalOptions.reviewed): a seeded sample, which
 * must leave at least one defect to measure on.
 */
function reviewedDefects(type: string, test: ScanEntry[], options: EvalOptions): ScanEntry[] {
  const count = options.reviewed ?? 0;
  if (count === 0) return [];
  const defects = test.filter((e) => e.label === 'defect');
  if (count >= defects.length)
    throw new BadArgumentError(
      `--reviewed ${count}: ${type} has ${defects.length} test defects; leave at least one to measure on.`,
    );
  return sample(defects, count, options.seed + 100);
}

async function evaluateDetectorType(
  type: string,
  makeEncoder: () => Promise<Encoder>,
  loader: ImageBatchLoader,
  options: EvalOptions,
): Promise<TypeResult> {
  const data = typeData(options.root, type);
  const failed: string[] = [];
  const kind = options.detector as 'one-class' | 'zero-shot';
  // The images it fits on decide the shape, as retrain and inspection decide it.
  const aspect = await sharedAspect(
    (kind === 'one-class' ? data.trainGood : data.test).map((e) => e.path),
    options.roi ?? null,
  );
  const create = async (
    layers?: FeatureName[],
    augment = false,
    imageScoring?: ImageScoring,
  ): Promise<Detector> =>
    detectorEntry(kind).create(await makeEncoder(), {
      inputSize: options.inputSize,
      aspect,
      seed: options.seed,
      ...(kind === 'one-class' && options.scales ? { scales: options.scales } : {}),
      ...(kind === 'one-class' && options.centredScales
        ? { centredScales: options.centredScales }
        : {}),
      ...layersConfig(kind, layers ?? options.layers),
      ...(options.tileScale ? { tileScale: options.tileScale } : {}),
      ...(kind === 'one-class' && (options.defectHead ?? true)
        ? { head: defaultDefectHeadConfig }
        : {}),
      ...(augment ? { augment } : {}),
      ...(imageScoring ? { imageScoring } : {}),
    });
  let detector: Detector | undefined;
  try {
    let calibration: Calibration;
    let result: Awaited<ReturnType<typeof scoreEntries>>;
    let layers: FeatureName[] | undefined;
    let layerChoice: LayerChoiceDto | null = null;
    let headCheck: DefectHeadCheckDto | null = null;
    let memoryCheck: DefectMemoryDto | null = null;
    let placesCheck: PlacesDto | null = null;
    let test = data.test;
    if (kind === 'one-class') {
      // Hold some good images out of the bank: the threshold needs scores the bank has not seen.
      const shuffled = sample(data.trainGood, data.trainGood.length, options.seed);
      const held = Math.max(3, Math.round(0.2 * shuffled.length));
      const validation = shuffled.slice(0, held);
      const fitPool = shuffled.slice(held);
      const fit = options.shots ? fitPool.slice(0, options.shots) : fitPool;
      if (fit.length === 0)
        throw new BadArgumentError(`Object type ${type} has too few train/good images to fit.`);
      const reviewed = reviewedDefects(type, data.test, options);
      if (reviewed.length > 0) {
        const taken = new Set(reviewed);
        test = data.test.filter((e) => !taken.has(e));
      }
      // As retrain: told which feature maps, those; otherwise each candidate is fitted and the one
      // that best tells the held-out good images from the same images with defects painted in
      // (and from the reviewed defects, where there are any) is kept. No test image the metrics
      // are measured on is read before the choice is made.
      const views = learnsViews(fit.length, options.tileScale ?? null);
      const chosen = await chooseLayers(options.layers, views, async (tried, { count }) => {
        const candidate = await create(
          tried.layers,
          tried.augmented,
          oneClassScoring(fit.length, reviewed.length),
        );
        try {
          const step = count > 1 ? ` (features ${candidateLabel(tried)})` : '';
          options.onProgress?.(`${type}: fitting on ${fit.length} good images${step}`);
          await fitOn(candidate, loader, fit, options, failed);
          // A single set (told) is not judged: nothing to choose between. Otherwise as retrain:
          // on painted defects (by the memory bank alone where the defect head learned from
          // them), and with reviewed defects, the mean of both.
          if (count === 1) {
            const good = (await scoreEntries(candidate, loader, validation, options, failed))
              .scores;
            return { detector: candidate, auroc: -Infinity, good };
          }
          const { good, auroc: paintedAuroc } = await judgeOnPainted(
            candidate,
            validation.map((e) => e.path),
            options.seed,
            batchOptions(loader, options, failed),
          );
          const auroc =
            reviewed.length > 0
              ? (paintedAuroc +
                  validationAuroc(
                    good,
                    (await scoreEntries(candidate, loader, reviewed, options, failed)).scores,
                  )) /
                2
              : paintedAuroc;
          return { detector: candidate, auroc, good };
        } catch (error) {
          candidate.dispose();
          throw error;
        }
      });
      detector = chosen.chosen.detector;
      [layers, layerChoice] = [chosen.layers, chosen.choice];
      if (layerChoice) options.onProgress?.(`${type}: ${layerChoiceLine(layerChoice)}`);
      if (chosen.augmented) options.onProgress?.(`${type}: ${AUGMENTED}`);
      headCheck = defectHeadCheck(detector);
      if (headCheck) options.onProgress?.(`${type}: ${defectHeadLine(headCheck)}`);
      let good = chosen.chosen.good;
      const batches = (entries: ScanEntry[]) =>
        decodedBatches(
          entries.map((e) => e.path),
          detector!.inputShape,
          batchOptions(loader, options, failed),
        );
      if (reviewed.length === 0) {
        // As retrain, for a type without defect labels: each place's normal, where it helps.
        const learned = await learnPlaces(
          detector,
          batches(validation),
          options.seed,
          options.signal,
          options.views,
        );
        placesCheck = learned?.check ?? null;
        if (placesCheck) options.onProgress?.(`${type}: ${placesLine(placesCheck)}`);
        // The threshold from each held-out image as the model now scores it (in views, and as
        // the places it did not teach score it).
        if (learned && placesOrViewsKept(learned.check)) good = learned.good;
      } else {
        const learned = await learnReviewedDefects(
          detector,
          batches(reviewed),
          batches(validation),
          options.signal,
        );
        memoryCheck = learned?.check ?? null;
        if (memoryCheck) {
          options.onProgress?.(`${type}: ${defectMemoryLine(memoryCheck)}`);
          // The threshold from the good images as the model with its memory scores them.
          if (memoryCheck.weight > 0)
            good = (await scoreEntries(detector, loader, validation, options, failed)).scores;
        }
      }
      calibration = calibrate(good);
      options.onProgress?.(`${type}: scoring ${test.length} test images`);
      result = await scoreEntries(detector, loader, test, options, failed);
    } else {
      options.onProgress?.(
        `${type}: sampling references from its ${data.test.length} unlabeled test images`,
      );
      detector = await create();
      const zeroShot = asZeroShot(detector);
      await fitOn(zeroShot, loader, data.test, options, failed);
      placesCheck = zeroShot.placesCheck;
      if (placesCheck)
        options.onProgress?.(`${type}: ${placesLine(placesCheck, 'reference images')}`);
      result = await scoreEntries(zeroShot, loader, data.test, options, failed);
      calibration = zeroShot.calibrate(result.scores);
    }
    return {
      type,
      input_shape: widthHeight(detector!.inputShape),
      images: result.scores.length,
      defects: result.labels.filter((l) => l === 1).length,
      ...metricsOf(result.scores, result.labels, calibration, result.pixel),
      threshold_method: calibration.method,
      failed_images: new Set(failed).size,
      ...(layers ? { layers, layer_choice: layerChoice } : {}),
      ...(headCheck ? { defect_head: headCheck } : {}),
      ...(memoryCheck ? { defect_memory: memoryCheck } : {}),
      ...(placesCheck ? { places: placesCheck } : {}),
    };
  } finally {
    detector?.dispose();
  }
}

/**
 * The classifier whose head reads type-relative evidence (detectors/classifier/
 * evidence-classifier.ts). Each pretrain type's labeled images are measured against that type's
 * own images, unlabeled, as a new type will be; the head learns from those measurements and their
 * labels, its threshold is F1-max on a held-out fifth of them, and each test type is then judged
 * from its own unlabeled test folder: no label of a test type is ever read.
 */
async function evaluateEvidenceClassifier(
  makeEncoder: () => Promise<Encoder>,
  loader: ImageBatchLoader,
  options: EvalOptions,
): Promise<TypeResult[]> {
  const config = {
    inputSize: options.inputSize,
    seed: options.seed,
    ...layersConfig(options.detector, options.layers),
  };
  const samples: EvidenceSample[] = [];
  for (const type of options.pretrainTypes) {
    const data = typeData(options.root, type);
    const entries = [...data.trainGood, ...data.test];
    const defect = new Map(entries.map((e) => [e.path, e.label === 'defect']));
    const paths = entries.map((e) => e.path);
    const detector = EvidenceClassifier.create(await makeEncoder(), undefined, config);
    try {
      options.onProgress?.(`${type}: measuring ${paths.length} labeled images against their type`);
      const failed: string[] = [];
      await fitOn(detector, loader, entries, options, failed);
      for await (const batch of decodedBatches(
        paths,
        loader.size,
        batchOptions(loader, options, failed),
      )) {
        const evidence = await detector.evidence(batch.images);
        batch.paths.forEach((path, i) =>
          samples.push({ evidence: evidence[i]!, defect: defect.get(path)! }),
        );
      }
    } finally {
      detector.dispose();
    }
  }
  const shuffled = sample(samples, samples.length, options.seed);
  const held = Math.max(2, Math.round(0.2 * shuffled.length));
  const validation = shuffled.slice(0, held);
  options.onProgress?.(
    `classifier: training the evidence head on ${shuffled.length - held} images`,
  );
  const head = await EvidenceHead.train(shuffled.slice(held), { seed: options.seed });
  try {
    const vScores = await head.predict(validation.map((s) => s.evidence));
    const vLabels = validation.map((s) => (s.defect ? 1 : 0));
    const threshold = validationThreshold(vScores, vLabels);
    const results: TypeResult[] = [];
    for (const type of options.testTypes) {
      const data = typeData(options.root, type);
      const failed: string[] = [];
      const detector = EvidenceClassifier.create(
        await makeEncoder(),
        EvidenceHead.fromJSON(await head.weights()),
        config,
      );
      try {
        options.onProgress?.(`${type}: measuring its ${data.test.length} unlabeled test images`);
        await fitOn(detector, loader, data.test, options, failed);
        const result = await scoreEntries(detector, loader, data.test, options, failed);
        results.push({
          type,
          input_shape: widthHeight(detector.inputShape),
          images: result.scores.length,
          defects: result.labels.filter((l) => l === 1).length,
          ...metricsOf(result.scores, result.labels, { threshold }, result.pixel),
          threshold_method: 'classifier-validation',
          failed_images: new Set(failed).size,
        });
      } finally {
        detector.dispose();
      }
    }
    return results;
  } finally {
    head.dispose();
  }
}

/** The seed's classifier (head on a frozen encoder) or baseline (VGG-16 trained end to end). */
async function evaluateClassifier(
  makeEncoder: () => Promise<Encoder>,
  loader: ImageBatchLoader,
  options: EvalOptions,
): Promise<TypeResult[]> {
  const labeled: LabeledImage[] = options.pretrainTypes.flatMap((type) => {
    const data = typeData(options.root, type);
    return [...data.trainGood, ...data.test].map((e) => ({
      path: e.path,
      defect: e.label === 'defect',
    }));
  });
  const shuffled = sample(labeled, labeled.length, options.seed);
  const held = Math.max(2, Math.round(0.2 * shuffled.length));
  const baseline = options.detector === 'baseline';
  const encoder = baseline
    ? await createEncoder('vgg16', { inputSize: options.inputSize })
    : await makeEncoder();
  try {
    options.onProgress?.(
      `${options.detector}: training on ${shuffled.length - held} labeled images of ${options.pretrainTypes.join(', ')}`,
    );
    const trained = await trainClassifier({
      encoder,
      config: classifierConfig(shuffled.slice(held), shuffled.slice(0, held), {
        epochs: options.epochs,
        batchSize: options.batchSize,
        inputSize: options.inputSize,
        fineTuneEncoder: baseline,
        seed: options.seed,
      }),
      ...(options.signal ? { signal: options.signal } : {}),
      onEpoch: (m) =>
        options.onProgress?.(
          `epoch ${m.epoch}: loss ${m.trainLoss.toFixed(3)}, validation accuracy ${m.accuracy.toFixed(3)}`,
        ),
    });
    try {
      // Threshold: F1-max on the pretrain types' validation images (the test types stay unseen).
      const { scores: vScores, labels: vLabels } = trained.validation;
      const threshold = validationThreshold(vScores, vLabels);
      const results: TypeResult[] = [];
      for (const type of options.testTypes) {
        const data = typeData(options.root, type);
        const failed: string[] = [];
        const byPath = new Map(data.test.map((e) => [e.path, e]));
        const scores: number[] = [];
        const labels: number[] = [];
        for await (const batch of decodedBatches(
          data.test.map((e) => e.path),
          loader.size,
          batchOptions(loader, options, failed),
        )) {
          const p = predictDefect(encoder, trained.head, batch.images);
          const values = await p.data();
          p.dispose();
          batch.paths.forEach((path, i) => {
            scores.push(values[i]!);
            labels.push(byPath.get(path)!.label === 'defect' ? 1 : 0);
          });
        }
        results.push({
          type,
          input_shape: widthHeight(loader.size),
          images: scores.length,
          defects: labels.filter((l) => l === 1).length,
          ...metricsOf(scores, labels, { threshold }, null),
          threshold_method: 'classifier-validation',
          failed_images: new Set(failed).size,
        });
      }
      return results;
    } finally {
      trained.head.dispose();
    }
  } finally {
    encoder.dispose();
  }
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/**
 * Detector config for feature maps `layers` (--layers, or a one-class candidate): zero-shot's as
 * zeroShotFeatures sets them, the others with the 3×3 neighbourhood; empty when not given.
 */
function layersConfig(detector: EvalOptions['detector'], layers: FeatureName[] | undefined) {
  if (!layers) return {};
  return {
    features:
      detector === 'zero-shot'
        ? zeroShotFeatures(layers)
        : { neighbourhood: defaultPatchFeatures.neighbourhood, layers },
  };
}

export async function runEvaluation(options: EvalOptions): Promise<EvalReport> {
  checkOptions(options);
  const started = Date.now();
  for (const type of [...options.pretrainTypes, ...options.testTypes]) typeData(options.root, type);
  const workDir = await mkdtemp(join(tmpdir(), 'defectscope-eval-'));
  const loader = new ImageBatchLoader(options.inputSize);
  try {
    const needsEncoder = options.detector !== 'baseline';
    const makeEncoder = needsEncoder
      ? await prepareEncoder(options, workDir)
      : () => createEncoder('vgg16', { inputSize: options.inputSize });
    let types: TypeResult[];
    if (options.detector === 'classifier' && (options.head ?? 'evidence') === 'evidence') {
      types = await evaluateEvidenceClassifier(makeEncoder, loader, options);
    } else if (options.detector === 'classifier' || options.detector === 'baseline') {
      types = await evaluateClassifier(makeEncoder, loader, options);
    } else {
      types = [];
      for (const type of options.testTypes)
        types.push(await evaluateDetectorType(type, makeEncoder, loader, options));
    }
    const keys = [
      'image_auroc',
      'average_precision',
      'f1_max',
      'precision',
      'recall',
      'f1',
      'accuracy',
      'balanced_accuracy',
      'recall_at_1pct_fpr',
      'recall_at_5pct_fpr',
      'false_alarm_rate',
    ] as const;
    const pixels = types.map((t) => t.pixel_auroc).filter((p): p is number => p !== null);
    const overall = {
      ...(Object.fromEntries(keys.map((k) => [k, mean(types.map((t) => t[k]))])) as Omit<
        TypeMetrics,
        'pixel_auroc'
      >),
      pixel_auroc: pixels.length > 0 ? mean(pixels) : null,
    };
    return {
      detector: options.detector,
      encoder: options.detector === 'baseline' ? 'vgg16' : options.encoder,
      classifier_head: options.detector === 'classifier' ? (options.head ?? 'evidence') : null,
      input_size: options.inputSize,
      shots: options.shots ?? null,
      scales: options.detector === 'one-class' ? (options.scales ?? [1]) : null,
      centred_scales: options.detector === 'one-class' ? (options.centredScales ?? []) : null,
      layers: options.layers ?? null,
      tile_scale: options.tileScale ?? null,
      defect_head: options.detector === 'one-class' ? (options.defectHead ?? true) : null,
      views: options.detector === 'one-class' ? (options.views ?? 'auto') : null,
      reviewed: options.detector === 'one-class' ? (options.reviewed ?? 0) : null,
      pretrain_types: options.pretrainTypes,
      test_types: options.testTypes,
      types,
      overall,
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    await loader.close();
    await rm(workDir, { recursive: true, force: true });
  }
}
