// `defectscope train`: SimCLR pretraining, the classifier head, or the seed's VGG-16 baseline on
// the images of some object types, with a progress bar on stderr, and a model folder at the end.
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MAX_INPUT_SIZE, type Label, type Split } from '../shared/dto.js';
import { BadArgumentError, CancelledError, type ImageError } from '../shared/errors.js';
import { initBackend } from '../engine/backend.js';
import type { Encoder } from '../engine/encoders/encoder.js';
import { loadEncoder } from '../engine/encoders/registry.js';
import {
  classifierConfig,
  classifierRecord,
  describeEpoch,
  trainClassifier,
  type ClassifierResult,
  type LabeledImage,
} from '../engine/heads/classifier.js';
import {
  saveModel,
  standardPreprocessing,
  type ModelKind,
  type ModelManifest,
} from '../engine/model-files.js';
import {
  readSimclrCheckpoint,
  simclrConfig,
  simclrRecord,
  trainSimclr,
  type SimclrCheckpoint,
} from '../engine/ssl/simclr.js';
import { scanDataset } from '../data/importers/scan.js';
import { trainingEncoder } from '../engine/training-encoder.js';
import { limitPerType, splitLabeled, typesOf } from '../engine/training-images.js';
import type { CliContext, Command, ParsedArgs } from './command.js';
import { dataHelp, dataOptions, intOption, openStoreFor, stringOption } from './common.js';
import { dataPaths, resolveDataDir } from '../store/data-dir.js';

const METHODS = ['simclr', 'classifier', 'baseline'] as const;
type Method = (typeof METHODS)[number];

const help = `Usage: defectscope train --method simclr|classifier|baseline [options]

Trains a model on the images of some object types and saves it as a model folder.
  simclr      SimCLR pretraining of an encoder on any images of the types, without labels
              (train and unsplit images; test images stay unseen)
  classifier  the seed paper's downstream task: dense layers on an encoder's embedding -> P(defect),
              on good and defect labels; the encoder frozen, or fine-tuned with --fine-tune
  baseline    the seed paper's baseline: the same head on VGG-16, trained end to end
Classifier and baseline use every labeled image of the types (any split), divided per label into
training and validation by a fixed hash of the file path, and report validation accuracy.

Options:
  --method NAME         simclr, classifier or baseline (required)
  --types a,b           object types to train on (default: all)
  --root DIR            read the images from a dataset folder (MVTec AD layout: <type>/train/good,
                        <type>/test/good|<defect>) instead of the store
  --epochs N            passes over the training images (default: simclr 10, others 10)
  --batch N             images per step (default 32)
  --size PX             side images are resized to (default 128; resnet needs a multiple of 32)
  --encoder KIND        simclr: resnet (default) or mobilenetv3-trainable;
                        classifier: mobilenetv3 (default), mobilenetv3-trainable, resnet, vgg16
  --from DIR            classifier: start from the encoder of this model (e.g. a SimCLR model)
  --fine-tune           classifier: update the encoder too (default: frozen)
  --lr X                Adam learning rate (default: simclr 1e-3, classifier and baseline 1e-4;
                        1e-5 whenever mobilenetv3-trainable's pretrained weights are updated)
  --temperature X       simclr: NT-Xent temperature (default 0.5)
  --cut-paste W         simclr: weight of the CutPaste auxiliary task (default 0 = off)
  --vgg-weights FILE    baseline: initialise VGG-16 from a TF.js layers model.json (the first four
                        blocks then stay frozen, as in the seed paper)
  --vgg-width X         baseline: channel multiplier of VGG-16 (default 1; weight files need 1)
  --val-fraction X      share of labeled images held out for validation (default 0.2)
  --limit N             at most N images per object type (chosen by file hash), for quick runs
  --seed N              random seed (default 1)
  --backend NAME        gpu, webgpu, node, wasm or cpu (default: the fastest installed)
  --out DIR             model folder to write (default: <data-dir>/models/<method>-<types>-<time>)
  --checkpoint-every N  simclr: write a checkpoint every N steps to <out>.checkpoint (default 50)
  --resume DIR          simclr: continue from a checkpoint folder a stopped run left
${dataHelp}

Ctrl-C stops at the next step; a SimCLR run writes its checkpoint first, so --resume continues it.`;

interface TypedImage {
  path: string;
  objectType: string;
  split: Split;
  label: Label | null;
}

function listTypes(args: ParsedArgs): string[] | undefined {
  const text = stringOption(args, 'types');
  if (text === undefined) return undefined;
  const types = text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  if (types.length === 0) throw new BadArgumentError('--types needs at least one object type.');
  return types;
}

function floatOption(args: ParsedArgs, name: string, fallback: number, min: number, max: number) {
  const text = stringOption(args, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new BadArgumentError(`--${name} must be a number from ${min} to ${max}, not '${text}'.`);
  }
  return value;
}

/** The images of the chosen types, from a dataset folder (--root) or from the store. */
function findImages(args: ParsedArgs, types: string[] | undefined): TypedImage[] {
  const root = stringOption(args, 'root');
  let images: TypedImage[];
  if (root) {
    images = scanDataset(resolve(root)).entries;
  } else {
    const store = openStoreFor(args);
    try {
      images = store.images.list(types ? { objectTypes: types } : {});
    } finally {
      store.close();
    }
  }
  const known = new Set(images.map((i) => i.objectType));
  const missing = (types ?? []).filter((t) => !known.has(t));
  if (missing.length > 0) {
    throw new BadArgumentError(
      `No images of object type ${missing.map((t) => `'${t}'`).join(', ')} ${root ? `in ${root}` : 'in the store'}. ` +
        `Known types: ${[...known].sort().join(', ') || 'none'}` +
        (root ? '.' : ' (import a dataset with `defectscope import`, or use --root).'),
    );
  }
  return types ? images.filter((i) => types.includes(i.objectType)) : images;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * The training progress line: a bar with steps, loss, images per second and ETA. Redrawn in
 * place on a terminal; elsewhere (logs, CI) one line every 5 % or 30 s.
 */
function progressBar(ctx: CliContext, label: string) {
  let lastPrinted = 0;
  let lastShare = -1;
  let open = false;
  return {
    update(step: number, total: number, loss: number, imagesPerSecond: number, eta: number) {
      const share = step / Math.max(total, 1);
      const width = 24;
      const filled = Math.round(share * width);
      const lossText = Number.isFinite(loss) ? `loss ${loss.toFixed(4)}` : 'embedding images';
      const line =
        `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${step}/${total} ` +
        `${lossText} · ${imagesPerSecond.toFixed(1)} img/s · ETA ${formatDuration(eta)}`;
      if (ctx.interactive) {
        process.stderr.write(`\r${line}\x1b[K`);
        open = step < total;
        if (!open) process.stderr.write('\n');
        return;
      }
      const now = Date.now();
      if (step === total || share - lastShare >= 0.05 || now - lastPrinted >= 30_000) {
        ctx.err(line);
        lastShare = share;
        lastPrinted = now;
      }
    },
    /** Ends a redrawn line before other output. */
    interrupt() {
      if (open) process.stderr.write('\n');
      open = false;
    },
  };
}

function defaultOut(args: ParsedArgs, method: Method, types: string[] | undefined): string {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\..*$/, '')
    .replace('T', '-');
  const name = `${method}-${(types ?? ['all']).join('+')}-${stamp}`;
  return join(dataPaths(resolveDataDir(stringOption(args, 'data-dir'))).models, name);
}

/** What one training run hands back for the model folder and the summary line. */
interface Trained {
  kind: ModelKind;
  objectTypes: string[];
  metrics: Record<string, unknown>;
  threshold?: ModelManifest['threshold'];
  training: Record<string, unknown>;
  summary: string;
  head?: ClassifierResult['head'];
  /** A checkpoint folder to remove once the model is saved. */
  checkpointDir?: string;
}

interface Session {
  args: ParsedArgs;
  ctx: CliContext;
  bar: ReturnType<typeof progressBar>;
  signal: AbortSignal;
  onImageError: (error: ImageError) => void;
  encoder: Encoder;
  types: string[] | undefined;
  seed: number;
  size: number;
}

/**
 * The pretrained MobileNetV3 has no batch norm and carries its input scaling (/255) folded into
 * the first convolution, whose weights are therefore ~0.004: Adam's steps of ~lr per weight
 * wreck that layer at 1e-3 (embeddings grew from ~16 to ~56 000 in 8 SimCLR steps) and still
 * inflate it at 1e-4 (×2.6 in 8 steps); at 1e-5 its scale holds. Trained-from-scratch networks
 * with batch norm take the usual rates.
 */
function defaultLearningRate(encoder: Encoder, usual: number): number {
  return encoder.info.kind === 'mobilenetv3-trainable' ? Math.min(usual, 1e-5) : usual;
}

async function runSimclr(
  session: Session,
  out: string,
  checkpoint: SimclrCheckpoint | undefined,
): Promise<Trained> {
  const { args, ctx } = session;
  const checkpointDir = checkpoint?.dir ?? `${out}.checkpoint`;
  let objectTypes = (checkpoint?.notes.objectTypes as string[] | undefined) ?? session.types;
  let config = checkpoint?.config;
  if (!config) {
    // Test images stay out of pretraining, so an evaluation on them sees them for the first time.
    const images = limitPerType(
      findImages(args, session.types).filter((i) => i.split !== 'test'),
      args.values.limit === undefined ? undefined : intOption(args, 'limit', 1),
    );
    objectTypes ??= typesOf(images);
    config = simclrConfig(
      images.map((i) => i.path),
      {
        epochs: intOption(args, 'epochs', 10),
        batchSize: intOption(args, 'batch', 32, 2),
        inputSize: session.size,
        learningRate: floatOption(args, 'lr', defaultLearningRate(session.encoder, 1e-3), 1e-7, 1),
        temperature: floatOption(args, 'temperature', 0.5, 0.01, 10),
        cutPasteWeight: floatOption(args, 'cut-paste', 0, 0, 10),
        checkpointEvery: intOption(args, 'checkpoint-every', 50, 0),
        seed: session.seed,
      },
    );
  }
  const perEpoch = Math.floor(
    config.images.length / Math.min(config.batchSize, config.images.length),
  );
  ctx.err(
    `simclr: ${config.images.length} images of ${objectTypes!.join(', ')}; ` +
      `${config.epochs} epochs × ${perEpoch} steps of ${config.batchSize}; ` +
      `${session.encoder.info.kind} encoder at ${config.inputSize} px` +
      (checkpoint ? `; resuming at step ${checkpoint.step}` : ''),
  );
  const result = await trainSimclr({
    encoder: session.encoder,
    config,
    checkpointDir,
    ...(checkpoint ? { resume: checkpoint } : {}),
    signal: session.signal,
    onProgress: session.bar.update,
    onImageError: session.onImageError,
    notes: { objectTypes, out },
  });
  const { tenth, metrics, training } = simclrRecord(result, config);
  const { firstLoss, lastLoss } = metrics;
  return {
    kind: 'simclr',
    objectTypes: objectTypes!,
    metrics,
    training,
    summary:
      `simclr on ${objectTypes!.join(', ')}: ${result.steps} steps, loss ${firstLoss.toFixed(3)} → ${lastLoss.toFixed(3)} ` +
      `(mean of first/last ${tenth} steps), ${result.imagesPerSecond.toFixed(1)} img/s`,
    checkpointDir,
  };
}

async function runClassifier(
  session: Session,
  method: 'classifier' | 'baseline',
): Promise<Trained> {
  const { args, ctx } = session;
  const images = limitPerType(
    findImages(args, session.types).filter((i) => i.label !== null),
    args.values.limit === undefined ? undefined : intOption(args, 'limit', 1),
  );
  const objectTypes = session.types ?? typesOf(images);
  const { train, validation } = splitLabeled(
    images,
    floatOption(args, 'val-fraction', 0.2, 0.01, 0.9),
  );
  const fineTune = method === 'baseline' || args.values['fine-tune'] === true;
  const config = classifierConfig(train, validation, {
    epochs: intOption(args, 'epochs', 10),
    batchSize: intOption(args, 'batch', 32, 2),
    inputSize: session.size,
    learningRate: floatOption(
      args,
      'lr',
      fineTune ? defaultLearningRate(session.encoder, 1e-4) : 1e-4,
      1e-7,
      1,
    ),
    fineTuneEncoder: fineTune,
    seed: session.seed,
  });
  const defects = (items: LabeledImage[]) => items.filter((i) => i.defect).length;
  ctx.err(
    `${method}: ${train.length} training images (${train.length - defects(train)} good, ${defects(train)} defect), ` +
      `${validation.length} validation (${validation.length - defects(validation)} good, ${defects(validation)} defect) ` +
      `of ${objectTypes.join(', ')}; ${session.encoder.info.kind} encoder ${fineTune ? 'fine-tuned' : 'frozen'} at ${session.size} px`,
  );
  const result = await trainClassifier({
    encoder: session.encoder,
    config,
    signal: session.signal,
    onProgress: session.bar.update,
    onEpoch: (m) => {
      session.bar.interrupt();
      ctx.err(describeEpoch(m, config.epochs));
    },
    onImageError: session.onImageError,
  });
  const { metrics, threshold, training, summary } = classifierRecord(result, config, {
    method,
    encoder: session.encoder.info.kind,
    objectTypes,
  });
  return {
    kind: method,
    objectTypes,
    metrics,
    ...(threshold ? { threshold } : {}),
    training,
    head: result.head,
    summary,
  };
}

export const command: Command = {
  name: 'train',
  summary: 'train a model: SimCLR pretraining, the classifier head, or the VGG-16 baseline',
  help,
  options: {
    ...dataOptions,
    method: { type: 'string' },
    types: { type: 'string' },
    root: { type: 'string' },
    epochs: { type: 'string' },
    batch: { type: 'string' },
    size: { type: 'string' },
    encoder: { type: 'string' },
    from: { type: 'string' },
    'fine-tune': { type: 'boolean' },
    lr: { type: 'string' },
    temperature: { type: 'string' },
    'cut-paste': { type: 'string' },
    'vgg-weights': { type: 'string' },
    'vgg-width': { type: 'string' },
    'val-fraction': { type: 'string' },
    limit: { type: 'string' },
    seed: { type: 'string' },
    backend: { type: 'string' },
    out: { type: 'string' },
    'checkpoint-every': { type: 'string' },
    resume: { type: 'string' },
  },
  async run(args, ctx) {
    if (args.positionals.length > 0)
      throw new BadArgumentError(`unexpected argument '${args.positionals[0]}'.`);
    const resumeDir = stringOption(args, 'resume');
    const method = stringOption(args, 'method') ?? (resumeDir ? 'simclr' : undefined);
    if (!METHODS.includes(method as Method)) {
      throw new BadArgumentError(`--method must be one of ${METHODS.join(', ')}.`);
    }
    if (resumeDir && method !== 'simclr')
      throw new BadArgumentError('--resume continues SimCLR runs only.');

    const backend = await initBackend(stringOption(args, 'backend'));
    ctx.err(`backend: ${backend.label}`);
    const checkpoint = resumeDir ? await readSimclrCheckpoint(resolve(resumeDir)) : undefined;
    const types = checkpoint
      ? (checkpoint.notes.objectTypes as string[] | undefined)
      : listTypes(args);
    const out = resolve(
      stringOption(args, 'out') ??
        (checkpoint?.notes.out as string | undefined) ??
        defaultOut(args, method as Method, types),
    );
    const seed = checkpoint?.config.seed ?? intOption(args, 'seed', 1, 0);
    const size = checkpoint?.config.inputSize ?? intOption(args, 'size', 128, 8, MAX_INPUT_SIZE);

    const controller = new AbortController();
    const bar = progressBar(ctx, method!);
    const stop = () => {
      bar.interrupt();
      ctx.err('Stopping after this step (Ctrl-C again quits at once)…');
      controller.abort();
      process.off('SIGINT', stop);
    };
    process.on('SIGINT', stop);
    let skipped = 0;
    const started = performance.now();
    let encoder: Encoder | undefined;
    let trained: Trained | undefined;
    try {
      let parent: string | undefined;
      if (checkpoint) encoder = await loadEncoder(checkpoint.encoderDir);
      else {
        const from = stringOption(args, 'from');
        ({ encoder, parent } = await trainingEncoder(
          {
            method: method as Method,
            encoder: stringOption(args, 'encoder'),
            from: from === undefined ? undefined : resolve(from),
            vggWeights: stringOption(args, 'vgg-weights'),
            vggWidth: floatOption(args, 'vgg-width', 1, 0.05, 4),
          },
          size,
          seed,
        ));
      }
      const session: Session = {
        args,
        ctx,
        bar,
        signal: controller.signal,
        onImageError: (error) => {
          skipped++;
          bar.interrupt();
          ctx.err(`skipped ${error.message}`);
        },
        encoder,
        types,
        seed,
        size,
      };
      trained =
        method === 'simclr'
          ? await runSimclr(session, out, checkpoint)
          : await runClassifier(session, method as 'classifier' | 'baseline');
      const manifest = await saveModel(out, {
        encoder,
        ...(trained.head ? { head: trained.head } : {}),
        manifest: {
          kind: trained.kind,
          objectTypes: trained.objectTypes,
          inputSize: size,
          preprocessing: standardPreprocessing,
          metrics: trained.metrics,
          ...(trained.threshold ? { threshold: trained.threshold } : {}),
          ...(parent ? { parent } : {}),
          training: { ...trained.training, backend: backend.name },
        },
      });
      if (trained.checkpointDir) await rm(trained.checkpointDir, { recursive: true, force: true });
      if (args.values.json) {
        ctx.out(JSON.stringify({ dir: out, ...manifest }, null, 2));
      } else {
        const took = formatDuration((performance.now() - started) / 1000);
        const problems = skipped > 0 ? `; ${skipped} unreadable images skipped` : '';
        ctx.out(`${trained.summary}; ${took}${problems}; model saved to ${out}`);
      }
      return 0;
    } catch (error) {
      bar.interrupt();
      if (error instanceof CancelledError) {
        ctx.err(`defectscope train: ${error.message}`);
        if (method === 'simclr') {
          ctx.err(
            `Continue it with: defectscope train --resume ${checkpoint?.dir ?? `${out}.checkpoint`}`,
          );
        }
        return 130;
      }
      throw error;
    } finally {
      process.off('SIGINT', stop);
      trained?.head?.dispose();
      encoder?.dispose();
    }
  },
};
