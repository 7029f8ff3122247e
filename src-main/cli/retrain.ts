// `defectscope retrain --type NAME`: one-click retrain of an object type's model, run as the same
// retrain/start job the app starts (the engine host fits; the store records the model).
import type { Command } from './command.js';
import {
  closing,
  engineHelp,
  engineOptions,
  intOption,
  layersOption,
  objectTypeOption,
  scalesOption,
  stringOption,
  onOffOption,
  viewsOption,
  tileScaleOption,
} from './common.js';
import { runJob, servicesFor } from './follow-job.js';
import { MIN_GOOD_IMAGES } from '../inspection/retrain.js';
import { DEFAULT_INPUT_SIZE, MAX_INPUT_SIZE, type RetrainSummary } from '../shared/dto.js';
import type { ValidationMetrics } from '../engine/tasks/retrain.js';
import { BadArgumentError } from '../shared/errors.js';
import {
  MAX_FALSE_ALARM_RATE,
  expectationLine,
  featuresLine,
  modelExpectation,
} from '../shared/model-quality.js';
import { formatRoi, parseRoi } from '../shared/roi.js';

/** "2%", "2 %" or "0.02" → 0.02, a share above 0 and at most MAX_FALSE_ALARM_RATE. */
function shareOption(text: string): number {
  const percent = /^\s*([\d.]+)\s*%\s*$/.exec(text);
  const value = percent ? Number(percent[1]) / 100 : Number(text);
  if (!(value > 0 && value <= MAX_FALSE_ALARM_RATE))
    throw new BadArgumentError(
      `--false-alarms takes a share of good parts above 0 and at most ${100 * MAX_FALSE_ALARM_RATE} %, such as 2% or 0.02; got '${text}'.`,
    );
  return value;
}

export const command: Command = {
  name: 'retrain',
  summary: "rebuild an object type's model from its good images and reviewed labels",
  help: [
    'Usage: defectscope retrain --type NAME [--size PX] [--scales S,...] [--centred-scales S,...]',
    '                           [--layers L,...] [--tile-scale PX|none] [--encoder MODEL_DIR]',
    '                           [--false-alarms PCT] [--roi X,Y,W,H|none] [--defect-head on|off]',
    '                           [--views auto|on|off] [--json]',
    '',
    `Fits a one-class model on the type's good images (at least ${MIN_GOOD_IMAGES}; reviewed "good" verdicts count),`,
    'and, once the type has 20+ defect labels, a classifier head on half of them to compete with it;',
    'validates it on held-out good images and the defect labels (reviewed "defect" verdicts too; synthetic',
    'defects when there are none yet), and makes it active only if it is at least as good as the active',
    'model. Older models stay for rollback (defectscope models).',
    '',
    'Options:',
    '  --type NAME        object type to retrain',
    `  --size PX          input side (default ${DEFAULT_INPUT_SIZE})`,
    '  --scales S,...     one-class: also take patch features at these fractions of --size, one',
    '                     memory bank each: --size 448 --scales 1,0.5 finds thin scratches (448 px)',
    '                     and large faint blots (224 px), at about 5x the scoring time',
    '  --centred-scales S,...  of those scales, the ones judged relative to each image: a stain',
    "                     stands out on its own shot however light or dark the shot (the app's",
    '                     Fine detail: --size 448 --scales 1,0.5 --centred-scales 0.5)',
    '  --layers L,...     one-class: the encoder feature maps (stride4, stride8, stride16). Default:',
    '                     fit stride4,stride8 and stride8,stride16 and keep the one that best tells',
    '                     held-out good images from the same images with defects painted in',
    '  --tile-scale PX    score each image at PX px on its short side (its own aspect), in',
    '                     overlapping tiles of --size px, so a defect a few pixels wide in a large',
    '                     camera image is still seen (e.g. 448; several times slower); none scores',
    "                     whole images. Default: the type's active model's setting, else none",
    '  --defect-head on|off  one-class: train a small head on defects painted into the good images',
    '                     and add its P(defect) to the patch distances where it passes its check',
    "                     (about 1.6x the fit time). Default: the type's setting, else on",
    '  --views auto|on|off  one-class: also score each image mirrored, flipped and half turned and',
    '                     average the maps (4x the scoring time); auto keeps them where the defects',
    "                     painted into held-out good images gain from them. Default: the type's",
    '                     setting, else auto',
    '  --encoder DIR      use the encoder of this model folder (e.g. a SimCLR run)',
    '  --false-alarms PCT share of good parts the threshold may flag, on held-out good images',
    "                     (default: the type's active model's, else 2%), e.g. 1% or 0.01",
    '  --roi X,Y,W,H      region of interest in image pixels (left, top, width, height): only the part',
    '                     inside is scored and gets a heatmap, drawn on the whole image; clipped to',
    "                     smaller images. `--roi none` clears it (default: the type's active model's)",
    engineHelp,
  ].join('\n'),
  options: {
    ...engineOptions,
    type: { type: 'string' },
    size: { type: 'string' },
    scales: { type: 'string' },
    'centred-scales': { type: 'string' },
    layers: { type: 'string' },
    'tile-scale': { type: 'string' },
    encoder: { type: 'string' },
    'false-alarms': { type: 'string' },
    roi: { type: 'string' },
    'defect-head': { type: 'string' },
    views: { type: 'string' },
  },
  async run(args, ctx) {
    const objectType = objectTypeOption(args);
    const inputSize = intOption(args, 'size', DEFAULT_INPUT_SIZE, 32, MAX_INPUT_SIZE);
    const scales = scalesOption(args);
    const centredScales = scalesOption(args, 'centred-scales');
    const layers = layersOption(args);
    const tileScale = tileScaleOption(args);
    const defectHead = onOffOption(args, 'defect-head');
    const views = viewsOption(args);
    const encoderFrom = stringOption(args, 'encoder');
    const falseAlarms = stringOption(args, 'false-alarms');
    const falseAlarmRate = falseAlarms === undefined ? undefined : shareOption(falseAlarms);
    const roiText = stringOption(args, 'roi');
    const roi = roiText === undefined ? undefined : parseRoi(roiText);
    return closing(servicesFor(args), async (services) => {
      const result = await runJob<RetrainSummary>(
        services,
        ctx,
        `retrain ${objectType}`,
        services.router.invoke('retrain/start', {
          objectType,
          inputSize,
          ...(scales ? { scales } : {}),
          ...(centredScales ? { centredScales } : {}),
          ...(layers ? { layers } : {}),
          ...(tileScale !== undefined ? { tileScale } : {}),
          ...(defectHead !== undefined ? { defectHead } : {}),
          ...(views !== undefined ? { views } : {}),
          ...(encoderFrom ? { encoderFrom } : {}),
          ...(falseAlarmRate !== undefined ? { falseAlarmRate } : {}),
          ...(roi !== undefined ? { roi } : {}),
        }),
      );
      if (args.values.json) {
        ctx.out(JSON.stringify(result, null, 2));
        return 0;
      }
      const m = result.metrics as unknown as ValidationMetrics;
      const expected = modelExpectation(result.metrics);
      // The expectation line gives the AUROC that counts (the bank's, or its places' split-half
      // figure); a second, more optimistic one beside it would only ask which to believe.
      const auroc = expected ? '' : `AUROC ${m.imageAuroc.toFixed(3)}, `;
      ctx.out(
        `Model ${result.modelId} (${result.kind ?? 'one-class'}) for ${objectType}: ${result.activated ? 'ACTIVE' : 'kept as a candidate'} — ${result.reason}.\n` +
          `Validation (${m.goodImages} good, ${m.defectImages} ${m.defects === 'labels' ? 'labeled' : 'synthetic'} defects): ` +
          `${auroc}F1 ${m.f1.toFixed(3)} at the threshold, false alarms ${(100 * m.falseAlarmRate).toFixed(1)} %.`,
      );
      if (result.roi)
        ctx.out(
          `Region of interest: ${formatRoi(result.roi)} (image pixels)` +
            (result.roiFromInspection !== undefined
              ? `, kept from zero-shot inspection ${result.roiFromInspection} (--roi none scores the whole image).`
              : '.'),
        );
      const features = featuresLine({
        layers: result.layers,
        layerChoice: result.layerChoice,
        defectHead: result.defectHead,
        defectMemory: result.defectMemory,
        places: result.places,
        augmented: result.augmented,
      });
      if (features) ctx.out(`Feature maps: ${features}.`);
      if (expected) ctx.out(expectationLine(expected));
      if (expected?.warning) ctx.out(`WARNING: ${expected.warning}`);
      return 0;
    });
  },
};
