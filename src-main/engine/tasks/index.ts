// The engine host's task table: every piece of work the host does, by name, with the schema its
// arguments are checked against when they arrive. Adding a task is one entry here; its code is
// loaded on first use, so a host that only probes images never loads TensorFlow.js.
import { z } from 'zod';
import {
  evalRequest,
  roiSchema,
  scaleList,
  tileScale,
  trainRequest,
} from '../../shared/schemas.js';
import { DEFAULT_FALSE_ALARM_RATE } from '../../shared/model-quality.js';
import { FEATURE_NAMES, MAX_INPUT_SIZE, VIEWS_CHOICES } from '../../shared/dto.js';

/** What a running task sees of the host. */
export interface TaskContext {
  /** Aborted when the owner cancels; stop at the next safe point with a CancelledError. */
  signal: AbortSignal;
  /** `total` 0 means unknown. Sent to the owner at most a few times a second. */
  progress(done: number, total: number, message?: string): void;
  log(line: string): void;
}

/** One entry of the table: the argument schema, and how to load the code that runs it. */
export interface EngineTask<Schema extends z.ZodType, Result> {
  args: Schema;
  load(): Promise<(args: z.output<Schema>, ctx: TaskContext) => Promise<Result>>;
}

function task<Schema extends z.ZodType, Result>(
  args: Schema,
  load: () => Promise<(args: z.output<Schema>, ctx: TaskContext) => Promise<Result>>,
): EngineTask<Schema, Result> {
  return { args, load };
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
  falseAlarmRate: z.number().gt(0).max(0.5).default(DEFAULT_FALSE_ALARM_RATE),
  /** The type's region of interest: images are cropped to it for fitting and validation. */
  roi: roiSchema.nullable().default(null),
});

export type InspectPrepareArgs = z.output<typeof inspectPrepareArgs>;
export type InspectBatchArgs = z.output<typeof inspectBatchArgs>;
export type RetrainArgs = z.output<typeof retrainArgs>;
export type ImportProbeArgs = z.output<typeof importProbeArgs>;
export type TrainArgs = z.output<typeof trainArgs>;
export type SelfCheckArgs = z.output<typeof selfCheckArgs>;

export const engineTasks = {
  /** The backend in use and why, for app/info. */
  'engine-info': task(z.object({}), async () => (await import('./engine-info.js')).engineInfo),
  /** tf.memory(): tests and diagnostics check that tasks leave no tensors behind. */
  memory: task(z.object({}), async () => (await import('./engine-info.js')).engineMemory),
  /** A small tensor workload with progress and cancel: proves the engine works, measures it. */
  'self-check': task(selfCheckArgs, async () => (await import('./self-check.js')).selfCheck),
  /** Hash, thumbnail and mask checks for files being imported; the owner records them. */
  'import-probe': task(
    importProbeArgs,
    async () => (await import('./import-probe.js')).probeForImport,
  ),
  /** SimCLR, classifier or baseline training, ending in a model folder. */
  train: task(trainArgs, async () => (await import('./train.js')).trainModel),
  /** The seed's cross-type protocol on a dataset folder. */
  eval: task(evalRequest, async () => (await import('./eval.js')).evaluate),
  /** Loads an inspection's model, or samples and saves zero-shot references; the calibration. */
  'inspect-prepare': task(
    inspectPrepareArgs,
    async () => (await import('./inspect.js')).prepareInspection,
  ),
  /** Scores files into per-file results (with heatmaps) and per-file errors. */
  'inspect-batch': task(inspectBatchArgs, async () => (await import('./inspect.js')).inspectBatch),
  /** Frees the detector an inspection kept loaded between batches. */
  'inspect-release': task(
    z.object({}),
    async () => (await import('./inspect.js')).releaseInspection,
  ),
  /** Fits, validates and saves a one-class model folder; the owner records it. */
  retrain: task(retrainArgs, async () => (await import('./retrain.js')).fitOneClassModel),
};

export type EngineTasks = typeof engineTasks;
export type EngineTaskName = keyof EngineTasks;
export type TaskArgs<N extends EngineTaskName> = z.input<EngineTasks[N]['args']>;
export type TaskResult<N extends EngineTaskName> =
  EngineTasks[N] extends EngineTask<z.ZodType, infer R> ? R : never;

export function isEngineTaskName(name: string): name is EngineTaskName {
  return Object.hasOwn(engineTasks, name);
}
