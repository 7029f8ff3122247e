// Runtime checks for everything that crosses a process boundary: the arguments of every contract
// call (renderer → main) and the requests main hands the engine host. Each schema is checked at
// compile time against its contract type, so the two cannot drift apart.
import { z } from 'zod';
import type { CallArgs, CallName } from './contract.js';
import {
  FEATURE_NAMES,
  MAX_INPUT_SIZE,
  VIEWS_CHOICES,
  type ImportRequest,
  type TrainRequest,
  type EvalRequest,
} from './dto.js';
import { MAX_FALSE_ALARM_RATE } from './model-quality.js';

const objectTypeName = z
  .string()
  .regex(/^[\w.-]{1,64}$/, "use letters, digits, '.', '_' or '-' (at most 64)");
const path = z.string().min(1, 'give a path');
const count = z.number().int().min(1);
const id = z.number().int().min(1);
const jobId = z.string().uuid('not a job id');
const who = z.string().trim().min(1).max(100);

const split = z.enum(['train', 'test', 'unsplit']);
const label = z.enum(['good', 'defect']);
const decision = z.enum(['OK', 'DEFECT', 'UNSURE']);
const page = {
  offset: z.number().int().min(0).optional(),
  limit: z.number().int().min(1).max(1000).optional(),
};
const noArgs = z.strictObject({});

export const importRequest = z.strictObject({
  root: path,
  layout: z.enum(['mvtec', 'folders', 'unlabeled']).optional(),
  objectType: objectTypeName.optional(),
  who: who.optional(),
}) satisfies z.ZodType<ImportRequest>;

export const trainRequest = z.strictObject({
  method: z.enum(['simclr', 'classifier', 'baseline']),
  objectTypes: z.array(objectTypeName).min(1).optional(),
  epochs: count.max(10_000).optional(),
  batchSize: z.number().int().min(2).max(4096).optional(),
  inputSize: z.number().int().min(8).max(MAX_INPUT_SIZE).optional(),
  encoder: z.string().min(1).optional(),
  from: path.optional(),
  fineTune: z.boolean().optional(),
  learningRate: z.number().positive().max(1).optional(),
  temperature: z.number().min(0.01).max(10).optional(),
  cutPasteWeight: z.number().min(0).max(10).optional(),
  validationFraction: z.number().min(0.01).max(0.9).optional(),
  limitPerType: count.optional(),
  seed: z.number().int().min(0).optional(),
  resume: path.optional(),
}) satisfies z.ZodType<TrainRequest>;

export const evalRequest = z.strictObject({
  root: path,
  pretrainTypes: z.array(objectTypeName),
  testTypes: z.array(objectTypeName).min(1, 'name at least one test type'),
  detector: z.enum(['one-class', 'zero-shot', 'classifier', 'baseline']),
  encoder: z.string().min(1).optional(),
  shots: count.optional(),
  inputSize: z.number().int().min(32).max(MAX_INPUT_SIZE).optional(),
  epochs: count.max(10_000).optional(),
  batchSize: z.number().int().min(2).max(4096).optional(),
  seed: z.number().int().min(0).optional(),
}) satisfies z.ZodType<EvalRequest>;

export const settingsSchema = z.object({
  inspector: who,
  backend: z.enum(['auto', 'gpu', 'webgpu', 'node', 'wasm', 'cpu']),
  unsureBand: z.number().min(0).max(0.25),
});

const jobStatus = z.enum(['queued', 'running', 'done', 'failed', 'cancelled', 'interrupted']);
const jobKind = z.enum(['import', 'train', 'eval', 'retrain', 'inspect']);

/** One-class image scales: fractions of the input size, at most four (PatchcoreConfig.scales). */
export const scaleList = z.array(z.number().gt(0).max(1)).max(4);

/** A region of interest in image pixels (shared/roi.ts): whole pixels, non-negative, not empty. */
export const roiSchema = z.strictObject({
  x: z.number().int().min(0),
  y: z.number().int().min(0),
  width: z.number().int().min(1),
  height: z.number().int().min(1),
});
/** The short side a tiled detector scores images at (the detector checks it against its tiles). */
export const tileScale = z.number().int().min(32).max(8192);

/** The argument schema of every call. */
export const callArgs = {
  'app/info': noArgs,
  'datasets/import': importRequest,
  'datasets/types': noArgs,
  'datasets/images': z.strictObject({
    objectTypes: z.array(objectTypeName).optional(),
    split: split.optional(),
    label: z.enum(['good', 'defect', 'unlabeled']).optional(),
    ...page,
  }),
  'datasets/relabel': z.strictObject({
    imageIds: z.array(id).min(1).max(10_000),
    label,
    defectKind: z.string().min(1).max(64).nullable().optional(),
    who: who.optional(),
  }),
  'train/start': trainRequest,
  'eval/start': evalRequest,
  'models/list': z.strictObject({ objectType: objectTypeName.optional() }),
  'models/activate': z.strictObject({ modelId: id }),
  'models/scored': z.strictObject({ modelId: id }),
  'retrain/start': z.strictObject({
    objectType: objectTypeName,
    inputSize: z.number().int().min(32).max(MAX_INPUT_SIZE).optional(),
    scales: scaleList.min(1).optional(),
    centredScales: scaleList.optional(),
    layers: z.array(z.enum(FEATURE_NAMES)).min(1).max(3).optional(),
    tileScale: tileScale.nullable().optional(),
    defectHead: z.boolean().optional(),
    views: z.enum(VIEWS_CHOICES).optional(),
    encoderFrom: path.optional(),
    falseAlarmRate: z.number().gt(0).max(MAX_FALSE_ALARM_RATE).optional(),
    roi: roiSchema.nullable().optional(),
  }),
  'inspect/start': z.strictObject({
    folder: path,
    objectType: objectTypeName,
    watch: z.boolean().optional(),
    modelId: id.optional(),
    inspectionId: id.optional(),
    inputSize: z.number().int().min(32).max(MAX_INPUT_SIZE).optional(),
    layers: z.array(z.enum(FEATURE_NAMES)).min(1).max(3).optional(),
    roi: roiSchema.nullable().optional(),
    heatmaps: z.enum(['flagged', 'all', 'none']).optional(),
  }),
  'inspect/results': z.strictObject({
    inspectionId: id.optional(),
    objectType: objectTypeName.optional(),
    decisions: z.array(decision).optional(),
    unreadable: z.boolean().optional(),
    order: z.enum(['worst-first', 'newest-first']).optional(),
    ...page,
  }),
  'review/queue': z.strictObject({
    inspectionId: id.optional(),
    objectType: objectTypeName.optional(),
    limit: count.max(1000).optional(),
  }),
  'review/verdict': z.strictObject({
    resultId: id,
    verdict: label,
    who: who.optional(),
    note: z.string().max(2000).optional(),
  }),
  'review/confirm-ok': z.strictObject({ inspectionId: id, who: who.optional() }),
  'jobs/list': z.strictObject({
    kinds: z.array(jobKind).optional(),
    statuses: z.array(jobStatus).optional(),
    ...page,
  }),
  'jobs/get': z.strictObject({ jobId }),
  'jobs/cancel': z.strictObject({ jobId }),
  'settings/get': noArgs,
  'settings/set': settingsSchema.partial().strict(),
} satisfies { [K in CallName]: z.ZodType<CallArgs<K>> };

// The other direction: every argument the contract allows, the schema accepts (by type), and it
// knows every field the contract names (a strict schema would reject a forgotten optional one).
type Input<K extends CallName> = z.input<(typeof callArgs)[K]>;
type KnowsFields<K extends CallName> = string extends keyof CallArgs<K>
  ? K
  : [Exclude<keyof CallArgs<K>, keyof Input<K>>] extends [never]
    ? K
    : never;
type Accepts<K extends CallName> = CallArgs<K> extends Input<K> ? KnowsFields<K> : never;
type Rejected = Exclude<CallName, { [K in CallName]: Accepts<K> }[CallName]>;
const everyContractArgumentFits: [Rejected] extends [never] ? true : Rejected = true;
void everyContractArgumentFits;
