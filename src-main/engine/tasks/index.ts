// The engine host's task table: every piece of work the host does, by name, with the schema its
// arguments are checked against when they arrive. Adding a task is one entry here; its code is
// loaded on first use, so a host that only probes images never loads TensorFlow.js.
import { z } from 'zod';
import { evalRequest, trainRequest } from '../../shared/schemas.js';

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
};

export type EngineTasks = typeof engineTasks;
export type EngineTaskName = keyof EngineTasks;
export type TaskArgs<N extends EngineTaskName> = z.input<EngineTasks[N]['args']>;
export type TaskResult<N extends EngineTaskName> =
  EngineTasks[N] extends EngineTask<z.ZodType, infer R> ? R : never;

export function isEngineTaskName(name: string): name is EngineTaskName {
  return Object.hasOwn(engineTasks, name);
}
