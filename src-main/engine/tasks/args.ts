// What crosses into the engine host with each task: the schema its arguments are checked
// against when they arrive (and their types), and what a running task sees of the host. The
// tasks' code imports these; the task table (index.ts) pairs them with that code.
import { z } from 'zod';
import { roiSchema, scaleList, tileScale, trainRequest } from '../../shared/schemas.js';
import { DEFAULT_FALSE_ALARM_RATE, MAX_FALSE_ALARM_RATE } from '../../shared/model-quality.js';
import { FEATURE_NAMES, MAX_INPUT_SIZE, VIEWS_CHOICES } from '../../shared/dto.js';

/** What a running task sees of the host. */
export interface TaskContext {
  /** Aborted when the owner cancels; stop at the next safe point with a CancelledError. */
  signal: AbortSignal;
  /** `total` 0 means unknown. Sent to the owner at most a few times a second. */
  progress(done: number, total: number, message?: string): void;
  log(line: string): void;
}

const scanEntry = z.object({
  path: z.string(),
  objectType: z.string(),
  split: z.enum(['train', 'test', 'unsplit']),
  label: z.enum(['good', 'defect']).nullable(),
  defectKind: z.string().nullable(),
  maskPath: z.string().nullable(),
});

export const importProbeArgs = z.object({
  entries: z.array(scanEntry),
  thumbnailsDir: z.string(),
});

const trainingImage = z.object({
  path: z.string(),
  objectType: z.string(),
  split: z.enum(['train', 'test', 'unsplit']),
  label: z.enum(['good', 'defect']).nullable(),
});

export const trainArgs = z.object({
  request: trainRequest,
  /** Every stored image of the requested types; the task picks what its method learns from. */
  images: z.array(trainingImage),
  /** The model folder to write. */
  out: z.string(),
});

export const selfCheckArgs = z.object({
  /** Matrix products to run. */
  steps: z.number().int().min(1),
  /** Side of the square matrices. */
  size: z.number().int().min(1).max(2048).default(64),
});

const calibration = z.object({
  method: z.enum(['f1-max', 'good-percentile', 'robust-outlier', 'mixture']),
  threshold: z.number(),
  low: z.number(),
  high: z.number(),
  unsureBand: z.number().min(0).max(0.5),
  percentile: z.number().optional(),
});

export const inspectPrepareArgs = z
  .object({
    /** A model folder with a calibrated threshold. */
    model: z.string().optional(),
    /** Or: sample these files of the folder as zero-shot references, save them to `out`. */
    zeroShot: z
      .object({
        objectType: z.string(),
        files: z.array(z.string()).min(2),
        out: z.string(),
        inputSize: z.number().int().min(32).max(MAX_INPUT_SIZE),
        layers: z.array(z.enum(FEATURE_NAMES)).min(1).max(3).optional(),
        references: z.number().int().min(2).max(256).default(24),
        /** The region of each image to score; it is saved with the references. */
        roi: roiSchema.nullable().default(null),
      })
      .optional(),
    batchSize: z.number().int().min(1).max(256).default(16),
  })
  .refine((a) => Boolean(a.model) !== Boolean(a.zeroShot), 'give a model folder or zeroShot');

export const inspectBatchArgs = z.object({
  /** The folder inspect-prepare answered with. */
  modelPath: z.string(),
  calibration,
  files: z.array(z.string()),
  /** Overlays are written here; none when null. */
  heatmapDir: z.string().nullable(),
  /** 'flagged': only DEFECT and UNSURE results get one (an OK image's map is all blue). */
  heatmaps: z.enum(['flagged', 'all']).default('flagged'),
  batchSize: z.number().int().min(1).max(256).default(16),
});

/** With at least this many defect labels a classifier head competes with the one-class model. */
export const CLASSIFIER_MIN_DEFECTS = 20;

export const retrainArgs = z.object({
  objectType: z.string(),
  /** Good images the memory bank is built from. */
  fit: z.array(z.string()).min(1),
  validationGood: z.array(z.string()).min(1),
  /** Defect-labelled images; synthetic defects are pasted into the good ones when empty. */
  validationDefect: z.array(z.string()),
  /** The active model's folder, judged on the same images. */
  activePath: z.string().nullable(),
  /** A model folder whose encoder to use (a SimCLR run); the pretrained MobileNetV3 when null. */
  encoderFrom: z.string().nullable().default(null),
  parent: z.string().nullable(),
  out: z.string(),
  inputSize: z.number().int().min(32).max(MAX_INPUT_SIZE),
  /** One-class: image scales (fractions of inputSize) with a memory bank each. */
  scales: scaleList.min(1).default([1]),
  /** One-class: the scales judged relative to each image (PatchcoreConfig.centredScales). */
  centredScales: scaleList.default([]),
  /** One-class: the feature maps; chosen among LAYER_CANDIDATES by validation when absent. */
  layers: z.array(z.enum(FEATURE_NAMES)).min(1).max(3).optional(),
  /** One-class: the short side images are scored at in tiles of inputSize; null untiled. */
  tileScale: tileScale.nullable().default(null),
  /** One-class: add the defect head trained on painted defects (PatchcoreConfig.head). On by default. */
  defectHead: z.boolean().default(true),
  /** One-class: each image also scored mirrored and turned (ViewsChoice). */
  views: z.enum(VIEWS_CHOICES).default('auto'),
  batchSize: z.number().int().min(1).max(256),
  seed: z.number().int(),
  /** A classifier head competes once the type has this many defect labels. */
  classifierMinDefects: z.number().int().min(2).default(CLASSIFIER_MIN_DEFECTS),
  classifierEpochs: z.number().int().min(1).max(100).default(10),
  /** Share of held-out good images the threshold may flag. */
  falseAlarmRate: z.number().gt(0).max(MAX_FALSE_ALARM_RATE).default(DEFAULT_FALSE_ALARM_RATE),
  /** The type's region of interest: images are cropped to it for fitting and validation. */
  roi: roiSchema.nullable().default(null),
});

export type InspectPrepareArgs = z.output<typeof inspectPrepareArgs>;
export type InspectBatchArgs = z.output<typeof inspectBatchArgs>;
export type RetrainArgs = z.output<typeof retrainArgs>;
export type ImportProbeArgs = z.output<typeof importProbeArgs>;
export type TrainArgs = z.output<typeof trainArgs>;
export type SelfCheckArgs = z.output<typeof selfCheckArgs>;
