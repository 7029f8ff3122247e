// Training as a host task: SimCLR pretraining, the classifier head, or the seed's VGG-16 baseline
// on images the owner selected from the store, ending in a model folder. The same choices as
// `defectscope train` (test images stay out of SimCLR; the images chosen by training-images.ts).
import { rm } from 'node:fs/promises';
import type { FileProblem, TrainResult } from '../../shared/dto.js';
import { BadArgumentError, type ImageError } from '../../shared/errors.js';
import { initBackend } from '../backend.js';
import type { Encoder } from '../encoders/encoder.js';
import { loadEncoder } from '../encoders/registry.js';
import {
  classifierConfig,
  classifierRecord,
  describeEpoch,
  trainClassifier,
} from '../heads/classifier.js';
import { saveModel, standardPreprocessing } from '../model-files.js';
import { readSimclrCheckpoint, simclrConfig, simclrRecord, trainSimclr } from '../ssl/simclr.js';
import { trainingEncoder } from '../training-encoder.js';
import { limitPerType, splitLabeled, typesOf } from '../training-images.js';
import type { TaskContext, TrainArgs } from './args.js';

function progressLine(loss: number, imagesPerSecond: number): string {
  const lossText = Number.isFinite(loss) ? `loss ${loss.toFixed(4)}` : 'embedding images';
  return `${lossText}, ${imagesPerSecond.toFixed(1)} img/s`;
}

export async function trainModel(args: TrainArgs, ctx: TaskContext): Promise<TrainResult> {
  const { request } = args;
  const backend = await initBackend();
  ctx.log(`engine: ${backend.label}`);
  const skippedImages: FileProblem[] = [];
  const onImageError = (error: ImageError) => {
    skippedImages.push({ path: error.path, problem: error.problem, message: error.message });
    ctx.log(`skipped ${error.message}`);
  };
  const seed = request.seed ?? 1;
  const checkpoint = request.resume ? await readSimclrCheckpoint(request.resume) : undefined;
  if (checkpoint && request.method !== 'simclr')
    throw new BadArgumentError('Only SimCLR runs resume from a checkpoint.');
  // A resumed run finishes the model folder it set out to write.
  const out = (checkpoint?.notes.out as string | undefined) ?? args.out;
  const size = checkpoint?.config.inputSize ?? request.inputSize ?? 128;

  let encoder: Encoder | undefined;
  let head: Awaited<ReturnType<typeof trainClassifier>>['head'] | undefined;
  try {
    let parent: string | undefined;
    if (checkpoint) encoder = await loadEncoder(checkpoint.encoderDir);
    else ({ encoder, parent } = await trainingEncoder(request, size, seed));

    if (request.method === 'simclr') {
      let objectTypes = checkpoint?.notes.objectTypes as string[] | undefined;
      let config = checkpoint?.config;
      if (!config) {
        // Test images stay out of pretraining, so an evaluation on them sees them first.
        const pool = limitPerType(
          args.images.filter((i) => i.split !== 'test'),
          request.limitPerType,
        );
        if (pool.length < 2)
          throw new BadArgumentError(
            'SimCLR needs at least 2 training images of the chosen object types.',
          );
        objectTypes = typesOf(pool);
        config = simclrConfig(
          pool.map((i) => i.path),
          {
            epochs: request.epochs ?? 10,
            batchSize: request.batchSize ?? 32,
            inputSize: size,
            learningRate: request.learningRate ?? 1e-3,
            temperature: request.temperature ?? 0.5,
            cutPasteWeight: request.cutPasteWeight ?? 0,
            checkpointEvery: 50,
            seed,
          },
        );
      }
      const checkpointDir = checkpoint?.dir ?? `${out}.checkpoint`;
      ctx.log(
        `simclr: ${config.images.length} images of ${objectTypes!.join(', ')}; ${config.epochs} epochs; ` +
          `${encoder.info.kind} encoder at ${config.inputSize} px` +
          (checkpoint ? `; resuming at step ${checkpoint.step}` : ''),
      );
      const result = await trainSimclr({
        encoder,
        config,
        checkpointDir,
        ...(checkpoint ? { resume: checkpoint } : {}),
        signal: ctx.signal,
        onProgress: (step, total, loss, imagesPerSecond) =>
          ctx.progress(step, total, progressLine(loss, imagesPerSecond)),
        onImageError,
        notes: { objectTypes, out },
      });
      const { metrics, training } = simclrRecord(result, config);
      await saveModel(out, {
        encoder,
        manifest: {
          kind: 'simclr',
          objectTypes: objectTypes!,
          inputSize: config.inputSize,
          preprocessing: standardPreprocessing,
          metrics,
          training: { ...training, backend: backend.name },
        },
      });
      await rm(checkpointDir, { recursive: true, force: true });
      return {
        modelDir: out,
        kind: 'simclr',
        objectTypes: objectTypes!,
        inputSize: config.inputSize,
        metrics,
        summary:
          `simclr on ${objectTypes!.join(', ')}: ${result.steps} steps, loss ${metrics.firstLoss.toFixed(3)} → ` +
          `${metrics.lastLoss.toFixed(3)}, ${result.imagesPerSecond.toFixed(1)} img/s`,
        skippedImages,
      };
    }

    const labeled = limitPerType(
      args.images.filter((i) => i.label !== null),
      request.limitPerType,
    );
    const objectTypes = request.objectTypes ?? typesOf(labeled);
    const { train, validation } = splitLabeled(labeled, request.validationFraction ?? 0.2);
    if (train.length === 0 || validation.length === 0) {
      throw new BadArgumentError(
        `The ${request.method} needs labeled images to train and validate on; ${objectTypes.join(', ') || 'the chosen types'} ` +
          `have ${labeled.length}. Import labeled images or review some inspection results first.`,
      );
    }
    const fineTune = request.method === 'baseline' || request.fineTune === true;
    const config = classifierConfig(train, validation, {
      epochs: request.epochs ?? 10,
      batchSize: request.batchSize ?? 32,
      inputSize: size,
      learningRate: request.learningRate ?? 1e-4,
      fineTuneEncoder: fineTune,
      seed,
    });
    ctx.log(
      `${request.method}: ${train.length} training and ${validation.length} validation images of ${objectTypes.join(', ')}; ` +
        `${encoder.info.kind} encoder ${fineTune ? 'fine-tuned' : 'frozen'} at ${size} px`,
    );
    const result = await trainClassifier({
      encoder,
      config,
      signal: ctx.signal,
      onProgress: (step, total, loss, imagesPerSecond) =>
        ctx.progress(step, total, progressLine(loss, imagesPerSecond)),
      onEpoch: (m) => ctx.log(describeEpoch(m, config.epochs)),
      onImageError,
    });
    head = result.head;
    const { metrics, threshold, training, summary } = classifierRecord(result, config, {
      method: request.method,
      encoder: encoder.info.kind,
      objectTypes,
    });
    await saveModel(out, {
      encoder,
      head,
      manifest: {
        kind: request.method,
        objectTypes,
        inputSize: size,
        preprocessing: standardPreprocessing,
        metrics,
        ...(threshold ? { threshold } : {}),
        ...(parent ? { parent } : {}),
        training: { ...training, backend: backend.name },
      },
    });
    return {
      modelDir: out,
      kind: request.method,
      objectTypes,
      inputSize: size,
      metrics,
      summary,
      skippedImages,
    };
  } finally {
    head?.dispose();
    encoder?.dispose();
  }
}
