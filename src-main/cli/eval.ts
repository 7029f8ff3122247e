// `defectscope eval`: the seed's cross-type protocol — learn on some object types, measure on
// types never seen in training — printed as a table and optionally written as JSON.
import { writeFile } from 'node:fs/promises';
import type { Command } from './command.js';
import {
  intOption,
  jsonHelp,
  layersOption,
  scalesOption,
  stringOption,
  table,
  onOffOption,
  viewsOption,
  tileScaleOption,
} from './common.js';
import { initBackend } from '../engine/backend.js';
import {
  classifierInputs,
  evalDetectors,
  type ClassifierInput,
  runEvaluation,
  type EvalDetector,
  type EvalReport,
} from '../engine/evaluation.js';
import { DEFAULT_INPUT_SIZE, MAX_INPUT_SIZE } from '../shared/dto.js';
import { BadArgumentError } from '../shared/errors.js';
import { formatRoi, parseRoi } from '../shared/roi.js';

const list = (value: string | undefined) =>
  value
    ? value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [];
const fixed = (v: number | null) => (v === null ? '-' : v.toFixed(3));

export function reportTable(report: EvalReport): string {
  const rows = [
    ...report.types,
    { type: 'overall', images: '', defects: '', ...report.overall },
  ].map((t) => [
    t.type,
    t.images,
    t.defects,
    fixed(t.image_auroc),
    fixed(t.average_precision),
    fixed(t.f1_max),
    fixed(t.precision),
    fixed(t.recall),
    fixed(t.f1),
    fixed(t.accuracy),
    fixed(t.balanced_accuracy),
    fixed(t.false_alarm_rate),
    fixed(t.recall_at_1pct_fpr),
    fixed(t.recall_at_5pct_fpr),
    fixed(t.pixel_auroc),
  ]);
  return table(
    [
      'type',
      'images',
      'defects',
      'AUROC',
      'AP',
      'F1-max',
      'precision',
      'recall',
      'F1',
      'accuracy',
      'bal.acc',
      'false alarms',
      'recall@1%FA',
      'recall@5%FA',
      'pixel AUROC',
    ],
    rows,
  );
}

export const command: Command = {
  name: 'eval',
  summary: "evaluate a detector on object types never seen in training (the seed's protocol)",
  help: [
    'Usage: defectscope eval --root DIR --test-types d,e [--pretrain-types a,b] --detector one-class|zero-shot|classifier|baseline',
    '                        [--shots K] [--scales S,...] [--centred-scales S,...] [--layers L,...]',
    '                        [--tile-scale PX] [--defect-head on|off] [--views auto|on|off]',
    '                        [--reviewed N]',
    '                        [--encoder MODEL]',
    '                        [--head evidence|embedding]',
    '                        [--size PX] [--roi X,Y,W,H] [--epochs N] [--batch N] [--json FILE]',
    '',
    'DIR is any folder in MVTec AD layout (<type>/train/good, <type>/test/<good|defect kind>,',
    'optional <type>/ground_truth/<kind>/*_mask.png) — the real MVTec AD works as is.',
    '',
    "Detectors: one-class fits on each test type's train/good (K of them with --shots);",
    "           zero-shot sees only the test type's unlabeled test folder;",
    "           classifier trains a dense head on the pretrain types' labels (encoder frozen); by",
    "           default (--head evidence) it reads how far an image's patches are from the other",
    '           images of its type, judging each test type from its unlabeled test folder;',
    '           --head embedding reads the pooled embedding, as the seed did;',
    "           baseline trains the seed's VGG-16 end to end on the pretrain types' labels.",
    'Encoders:  mobilenetv3 (pretrained, default), inceptionv3 (pretrained on ImageNet, from the',
    '           nsfwjs package; about 7x slower), resnet-simclr or mobilenetv3-simclr (SimCLR on',
    '           the pretrain types only), or the folder of a saved encoder or model.',
    '',
    'Options:',
    `  --size PX        input side (default ${DEFAULT_INPUT_SIZE})`,
    '  --layers L,...   patch detectors and the evidence head: the encoder feature maps patch',
    '                   features come from (one-class default: fit stride4,stride8 and',
    '                   stride8,stride16 and keep the one that best tells held-out good images',
    '                   from the same images with defects painted in, as retrain does; zero-shot',
    '                   stride8,stride16mid, MobileNetV3 block 8 for stride 16; the evidence',
    '                   head stride8,stride16)',
    '  --scales S,...   one-class: also take patch features at these fractions of --size, one',
    '                   memory bank each (e.g. --size 448 --scales 1,0.5 sees 448 and 224 px)',
    '  --centred-scales S,...  one-class: judge the patches at these of the scales relative to their',
    "                   own image (the app's Fine detail: --size 448 --scales 1,0.5 --centred-scales 0.5)",
    '  --tile-scale PX  patch detectors: score each image at PX px on its short side, in overlapping',
    '                   tiles of --size px (as `retrain --tile-scale` ships it; default: whole images)',
    '  --defect-head on|off  one-class: the head trained per type on defects painted into its good',
    '                   images, added to the patch distances where it passes its check (default on,',
    '                   as retrain ships it)',
    '  --views auto|on|off  one-class: also score each image mirrored, flipped and half turned,',
    "                   the maps averaged; auto where the type's painted defects gain from it",
    '                   (default auto, as retrain ships it)',
    "  --reviewed N     one-class: N of each test type's defects play reviewed defects, as an",
    "                   inspector's verdicts reach retrain: they judge the feature maps and teach",
    '                   the model (a memory of their patches), and are left out of the metrics',
    '  --epochs N       SimCLR / classifier epochs (default 5)',
    '  --roi X,Y,W,H    one-class and zero-shot: score only this region of each test image (pixels:',
    '                   left, top, width, height), as a type retrained with --roi does',
    '  --batch N        batch size (default 16)',
    '  --seed N         seed for sampling and training (default 1)',
    '  --backend NAME   gpu, webgpu, node, wasm or cpu',
    '  --json FILE      also write the report as JSON',
    jsonHelp.replace('print the result', 'print the report'),
  ].join('\n'),
  options: {
    root: { type: 'string' },
    'pretrain-types': { type: 'string' },
    'test-types': { type: 'string' },
    detector: { type: 'string' },
    shots: { type: 'string' },
    encoder: { type: 'string' },
    size: { type: 'string' },
    epochs: { type: 'string' },
    batch: { type: 'string' },
    seed: { type: 'string' },
    backend: { type: 'string' },
    json: { type: 'string' },
    head: { type: 'string' },
    scales: { type: 'string' },
    'centred-scales': { type: 'string' },
    layers: { type: 'string' },
    roi: { type: 'string' },
    'tile-scale': { type: 'string' },
    'defect-head': { type: 'string' },
    views: { type: 'string' },
    reviewed: { type: 'string' },
  },
  async run(args, ctx) {
    if (args.positionals.length > 0)
      throw new BadArgumentError(`unexpected argument '${args.positionals[0]}'.`);
    const root = stringOption(args, 'root');
    if (!root) throw new BadArgumentError('--root DIR is required (a folder in MVTec AD layout).');
    const detector = stringOption(args, 'detector') ?? 'one-class';
    if (!evalDetectors.includes(detector as EvalDetector)) {
      throw new BadArgumentError(
        `--detector must be one of ${evalDetectors.join(', ')}, not '${detector}'.`,
      );
    }
    const head = stringOption(args, 'head') ?? 'evidence';
    if (!classifierInputs.includes(head as ClassifierInput))
      throw new BadArgumentError(
        `--head must be one of ${classifierInputs.join(', ')}, not '${head}'.`,
      );
    if (stringOption(args, 'head') !== undefined && detector !== 'classifier')
      throw new BadArgumentError('--head applies to --detector classifier only.');
    const scales = scalesOption(args);
    const centredScales = scalesOption(args, 'centred-scales');
    if ((scales || centredScales) && detector !== 'one-class')
      throw new BadArgumentError(
        '--scales and --centred-scales apply to --detector one-class only.',
      );
    const tileScale = tileScaleOption(args) ?? null;
    if (tileScale !== null && detector !== 'one-class' && detector !== 'zero-shot')
      throw new BadArgumentError(
        '--tile-scale applies to --detector one-class and zero-shot only.',
      );
    const layers = layersOption(args);
    if (layers && (detector === 'baseline' || (detector === 'classifier' && head === 'embedding')))
      throw new BadArgumentError('--layers applies to the patch detectors and the evidence head.');
    const defectHead = onOffOption(args, 'defect-head');
    if (defectHead !== undefined && detector !== 'one-class')
      throw new BadArgumentError('--defect-head applies to --detector one-class only.');
    const views = viewsOption(args);
    if (views !== undefined && detector !== 'one-class')
      throw new BadArgumentError('--views applies to --detector one-class only.');
    const reviewed =
      stringOption(args, 'reviewed') === undefined ? undefined : intOption(args, 'reviewed', 0, 1);
    if (reviewed !== undefined && detector !== 'one-class')
      throw new BadArgumentError('--reviewed applies to --detector one-class only.');
    const roiText = stringOption(args, 'roi');
    const roi = roiText === undefined ? null : parseRoi(roiText);
    const shots =
      stringOption(args, 'shots') === undefined ? undefined : intOption(args, 'shots', 0, 1);
    const backend = await initBackend(stringOption(args, 'backend'));
    ctx.err(`Engine: ${backend.label}`);
    const report = await runEvaluation({
      root,
      pretrainTypes: list(stringOption(args, 'pretrain-types')),
      testTypes: list(stringOption(args, 'test-types')),
      detector: detector as EvalDetector,
      encoder: stringOption(args, 'encoder') ?? 'mobilenetv3',
      ...(shots !== undefined ? { shots } : {}),
      head: head as ClassifierInput,
      ...(scales ? { scales } : {}),
      ...(centredScales ? { centredScales } : {}),
      ...(layers ? { layers } : {}),
      ...(roi ? { roi } : {}),
      ...(tileScale !== null ? { tileScale } : {}),
      ...(defectHead !== undefined ? { defectHead } : {}),
      ...(views !== undefined ? { views } : {}),
      ...(reviewed !== undefined ? { reviewed } : {}),
      inputSize: intOption(args, 'size', DEFAULT_INPUT_SIZE, 32, MAX_INPUT_SIZE),
      epochs: intOption(args, 'epochs', 5),
      batchSize: intOption(args, 'batch', 16, 2),
      seed: intOption(args, 'seed', 1, 0),
      onProgress: (message) => ctx.err(message),
    });
    const jsonFile = stringOption(args, 'json');
    if (jsonFile) await writeFile(jsonFile, JSON.stringify(report, null, 2) + '\n');
    ctx.out(
      `${report.detector} on ${report.encoder} at ${report.tile_scale ? `${report.tile_scale} px in ${report.input_size} px tiles` : `${report.input_size} px`}${report.shots ? `, ${report.shots}-shot` : ''}${report.reviewed ? `, ${report.reviewed} reviewed defects a type` : ''}${roi ? `, within ${formatRoi(roi)}` : ''} — test types never seen in training (${report.seconds} s)`,
    );
    ctx.out(reportTable(report));
    const failed = report.types.reduce((n, t) => n + t.failed_images, 0);
    if (failed > 0) ctx.err(`${failed} image(s) could not be read and were left out.`);
    return 0;
  },
};
