// The main side of training and evaluation jobs: pick the images from the store, hand the engine
// host plain arguments, and relay its progress and log to the job.
import { join } from 'node:path';
import type { Emit } from '../shared/contract.js';
import type { EvalReportDto, EvalRequest, TrainRequest, TrainResult } from '../shared/dto.js';
import { BadArgumentError } from '../shared/errors.js';
import type { Store } from '../store/store.js';
import type { EngineClient } from './engine-client.js';
import type { JobControl } from './registry.js';

/** Where a new model folder goes: <data>/models/<method>-<types>-<UTC time>. */
export function modelFolder(
  store: Store,
  method: string,
  objectTypes: string[] | undefined,
): string {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\..*$/, '')
    .replace('T', '-');
  return join(store.paths.models, `${method}-${(objectTypes ?? ['all']).join('+')}-${stamp}`);
}

/** Throws unless every named object type has images in the store. */
export function checkObjectTypes(store: Store, objectTypes: string[] | undefined): void {
  const known = new Set(
    store.objectTypes
      .summaries()
      .filter((t) => t.images > 0)
      .map((t) => t.name),
  );
  const missing = (objectTypes ?? []).filter((t) => !known.has(t));
  if (missing.length > 0) {
    throw new BadArgumentError(
      `No images of object type ${missing.map((t) => `'${t}'`).join(', ')} in the store. ` +
        `Known types: ${[...known].sort().join(', ') || 'none'} (import a dataset first).`,
    );
  }
}

export async function runTrainJob(
  deps: { store: Store; engine: EngineClient; emit?: Emit },
  request: TrainRequest,
  job: JobControl,
): Promise<TrainResult> {
  const images = deps.store.images
    .list(request.objectTypes ? { objectTypes: request.objectTypes } : {})
    .map(({ path, objectType, split, label }) => ({ path, objectType, split, label }));
  const result = await deps.engine.run(
    'train',
    { request, images, out: modelFolder(deps.store, request.method, request.objectTypes) },
    { signal: job.signal, onProgress: job.progress, onLog: job.log },
  );
  // Registered as 'ready', never activated: a SimCLR encoder or a classifier is chosen for an
  // object type by the inspector (models/activate) or used by retrain, not swapped in silently.
  const modelId = deps.store.models.insert({
    kind: result.kind,
    name: `${result.kind} ${result.objectTypes.join('+') || 'all types'} ${new Date().toISOString().slice(0, 16).replace('T', ' ')}`,
    objectTypes: result.objectTypes,
    config: { ...request, inputSize: result.inputSize },
    metrics: result.metrics,
    path: result.modelDir,
    status: 'ready',
  });
  job.log(`recorded as model ${modelId}`);
  deps.emit?.('models/changed', { objectTypes: result.objectTypes });
  return { ...result, modelId };
}

export async function runEvalJob(
  deps: { engine: EngineClient },
  request: EvalRequest,
  job: JobControl,
): Promise<EvalReportDto> {
  return deps.engine.run('eval', request, {
    signal: job.signal,
    onProgress: job.progress,
    onLog: job.log,
  });
}
