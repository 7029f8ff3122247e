// The seed's cross-type protocol as a host task; its progress messages become the job's log.
import { DEFAULT_INPUT_SIZE, type EvalRequest } from '../../shared/dto.js';
import { initBackend } from '../backend.js';
import { runEvaluation, type EvalReport } from '../evaluation.js';
import type { TaskContext } from './args.js';

export async function evaluate(request: EvalRequest, ctx: TaskContext): Promise<EvalReport> {
  const backend = await initBackend();
  ctx.log(`engine: ${backend.label}`);
  return runEvaluation({
    root: request.root,
    pretrainTypes: request.pretrainTypes,
    testTypes: request.testTypes,
    detector: request.detector,
    encoder: request.encoder ?? 'mobilenetv3',
    ...(request.shots !== undefined ? { shots: request.shots } : {}),
    inputSize: request.inputSize ?? DEFAULT_INPUT_SIZE,
    epochs: request.epochs ?? 5,
    batchSize: request.batchSize ?? 16,
    seed: request.seed ?? 1,
    signal: ctx.signal,
    onProgress: (message) => {
      ctx.log(message);
      ctx.progress(0, 0, message);
    },
  });
}
