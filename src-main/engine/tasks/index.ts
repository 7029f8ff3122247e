// The engine host's task table: every piece of work the host does, by name, with the schema its
// arguments are checked against when they arrive (args.ts). Adding a task is one entry here and
// its schema there; its code is loaded on first use, so a host that only probes images never
// loads TensorFlow.js.
import { z } from 'zod';
import { evalRequest } from '../../shared/schemas.js';
import {
  importProbeArgs,
  inspectBatchArgs,
  inspectPrepareArgs,
  retrainArgs,
  selfCheckArgs,
  trainArgs,
  type TaskContext,
} from './args.js';

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
