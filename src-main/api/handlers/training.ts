// train/start and eval/start: both long jobs in the engine lane, one training at a time.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { NotFoundError } from '../../shared/errors.js';
import { ENGINE_LANE } from '../../jobs/registry.js';
import { checkObjectTypes, runEvalJob, runTrainJob } from '../../jobs/train-job.js';
import type { Handlers } from '../context.js';
import { existingFolder } from './datasets.js';

function existingPath(path: string, what: string): string {
  const absolute = resolve(path);
  if (!existsSync(absolute)) throw new NotFoundError(`${what} ${absolute} does not exist.`);
  return absolute;
}

export const trainingHandlers = {
  'train/start': async (request, ctx) => {
    checkObjectTypes(ctx.store, request.objectTypes);
    const args = {
      ...request,
      ...(request.from ? { from: existingPath(request.from, 'The starting model') } : {}),
      ...(request.resume ? { resume: existingPath(request.resume, 'The checkpoint') } : {}),
    };
    const job = ctx.jobs.start(
      'train',
      args,
      (control) =>
        runTrainJob({ store: ctx.store, engine: ctx.engine, emit: ctx.events.emit }, args, control),
      { lane: ENGINE_LANE },
    );
    return { jobId: job.id };
  },
  'eval/start': async (request, ctx) => {
    const args = { ...request, root: existingFolder(request.root, 'The dataset folder') };
    const job = ctx.jobs.start('eval', args, (control) => runEvalJob(ctx, args, control), {
      lane: ENGINE_LANE,
    });
    return { jobId: job.id };
  },
} satisfies Partial<Handlers>;
