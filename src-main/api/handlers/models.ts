// models/list, models/scored, models/activate and retrain/start: model versions per object type,
// what each scored in inspections, rollback by activating an older one, and the one-click
// retrain job (engine lane: one fit at a time).
import { existsSync } from 'node:fs';
import { BadArgumentError, NotFoundError } from '../../shared/errors.js';
import { ENGINE_LANE } from '../../jobs/registry.js';
import { retrainObjectType } from '../../inspection/retrain.js';
import type { HandlerContext, Handlers } from '../context.js';

export function startRetrain(ctx: HandlerContext, args: Parameters<Handlers['retrain/start']>[0]) {
  if (ctx.store.objectTypes.idOf(args.objectType) === undefined) {
    throw new NotFoundError(
      `No object type '${args.objectType}'. Import its images first (defectscope import <folder> --type ${args.objectType}).`,
    );
  }
  return ctx.jobs.start(
    'retrain',
    args,
    async (job) => {
      const result = await retrainObjectType(
        { store: ctx.store, engine: ctx.engine },
        {
          objectType: args.objectType,
          ...(args.inputSize ? { inputSize: args.inputSize } : {}),
          ...(args.scales ? { scales: args.scales } : {}),
          ...(args.centredScales ? { centredScales: args.centredScales } : {}),
          ...(args.layers ? { layers: args.layers } : {}),
          ...(args.tileScale !== undefined ? { tileScale: args.tileScale } : {}),
          ...(args.defectHead !== undefined ? { defectHead: args.defectHead } : {}),
          ...(args.views ? { views: args.views } : {}),
          ...(args.encoderFrom ? { encoderFrom: args.encoderFrom } : {}),
          ...(args.falseAlarmRate ? { falseAlarmRate: args.falseAlarmRate } : {}),
          // null clears the type's region; absent keeps it.
          ...(args.roi !== undefined ? { roi: args.roi } : {}),
          signal: job.signal,
          onProgress: (message, done, total) => job.progress(done ?? 0, total ?? 0, message),
          onLog: job.log,
        },
      );
      const outcome = `model ${result.modelId} ${result.activated ? 'active' : 'kept as a candidate'}`;
      job.log(`${outcome} — ${result.reason}`);
      // The last phase's step would otherwise stand as the finished job's message.
      job.progress(1, 1, outcome);
      ctx.events.emit('models/changed', { objectTypes: [args.objectType] });
      return result;
    },
    { lane: ENGINE_LANE },
  );
}

export const modelsHandlers = {
  // With each version's validation scores: its page draws its curves from them.
  'models/list': async ({ objectType }, ctx) =>
    ctx.store.models
      .list(objectType)
      .map((model) => ({ ...model, validation: ctx.store.models.validation(model.id) })),
  'models/scored': async ({ modelId }, ctx) => {
    if (!ctx.store.models.get(modelId)) throw new NotFoundError(`No model ${modelId}.`);
    return ctx.store.results.scoredWithTruth(modelId);
  },
  'models/activate': async ({ modelId }, ctx) => {
    const model = ctx.store.models.get(modelId);
    if (!model) throw new NotFoundError(`No model ${modelId}.`);
    if (model.status === 'failed' || model.status === 'training')
      throw new BadArgumentError(
        `Model ${modelId} is ${model.status}; only a finished model can be activated.`,
      );
    if (!model.path || !existsSync(model.path))
      throw new NotFoundError(
        `Model ${modelId}'s folder ${model.path ?? '(none)'} is gone; retrain the type.`,
      );
    ctx.store.models.activate(modelId);
    ctx.events.emit('models/changed', { objectTypes: model.objectTypes });
    return ctx.store.models.get(modelId)!;
  },
  'retrain/start': async (args, ctx) => ({ jobId: startRetrain(ctx, args).id }),
} satisfies Partial<Handlers>;
