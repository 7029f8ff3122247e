// `defectscope models list|activate`: model versions per object type, and rollback.
import type { Command } from './command.js';
import { closing, dataHelp, dataOptions, openStoreFor, stringOption, table } from './common.js';
import { BadArgumentError, NotFoundError } from '../shared/errors.js';
import {
  formatPercent,
  layersLabel,
  modelAuroc,
  modelExpectation,
  rangeLabel,
  VIEWS_LABEL,
} from '../shared/model-quality.js';
import type {
  DefectHeadCheckDto,
  DefectMemoryDto,
  LayerChoiceDto,
  PlacesDto,
} from '../shared/dto.js';
import { formatRoi, modelRoi } from '../shared/roi.js';
import type { ModelDto } from '../shared/dto.js';

/**
 * Whether validation chose the model's feature maps among several. A choice between the told maps
 * with and without the views chose the views only, which the "+ mirrored/turned" shows.
 */
const layersChosen = (m: ModelDto): boolean =>
  new Set(
    (m.config.layerChoice as LayerChoiceDto | undefined)?.candidates.map((c) => c.layers.join()),
  ).size > 1;
const fixed = (value: unknown) => (typeof value === 'number' ? value.toFixed(3) : '-');
const metric = (m: Record<string, unknown> | null, key: string) => fixed(m?.[key]);
/**
 * How a model scores large images: "448 px" when in tiles at that short side, else "-". A
 * classifier head that won a retrain scores whole images; its config keeps the type's setting.
 */
const tiles = (m: ModelDto) =>
  m.kind !== 'classifier' && typeof m.config.tileScale === 'number'
    ? `${m.config.tileScale} px`
    : '-';

export const command: Command = {
  name: 'models',
  summary: 'list model versions per object type, or activate one (rollback)',
  help: [
    'Usage: defectscope models list [--type NAME] [--json]',
    '       defectscope models activate <model-id>',
    '',
    'Options:',
    '  --type NAME      only this object type',
    dataHelp,
  ].join('\n'),
  options: { ...dataOptions, type: { type: 'string' } },
  async run(args, ctx) {
    const [action, id, ...extra] = args.positionals;
    if (extra.length > 0) throw new BadArgumentError(`unexpected argument '${extra[0]}'.`);
    return closing(openStoreFor(args), (store) => {
      if (action === 'list' || action === undefined) {
        const objectType = stringOption(args, 'type');
        if (objectType !== undefined && store.objectTypes.idOf(objectType) === undefined)
          throw new BadArgumentError(
            `no object type '${objectType}'; \`defectscope types\` lists them.`,
          );
        const models = store.models.list(objectType);
        if (args.values.json) {
          // With what each model's validation promises: good parts flagged, defects caught; and
          // the region of interest it keeps to (null: the whole image).
          const withExpectation = models.map((m) => ({
            ...m,
            expected: modelExpectation(m.metrics),
            roi: modelRoi(m.config),
          }));
          ctx.out(JSON.stringify(withExpectation, null, 2));
          return 0;
        }
        if (models.length === 0) {
          ctx.out(
            objectType === undefined
              ? 'No models yet. Run `defectscope retrain --type NAME` for an object type with good images.'
              : `No models for ${objectType} yet. Run \`defectscope retrain --type ${objectType}\` once it has good images.`,
          );
          return 0;
        }
        const rated = models.map((m) => ({
          m,
          expected: modelExpectation(m.metrics),
          roi: modelRoi(m.config),
        }));
        ctx.out(
          table(
            [
              'id',
              'status',
              'kind',
              'types',
              'tiled at',
              'AUROC',
              'F1',
              'good flagged',
              'defects caught',
              'features',
              'region',
              'created',
            ],
            rated.map(({ m, expected, roi }) => [
              m.id,
              m.status,
              m.kind,
              m.objectTypes.join(','),
              tiles(m),
              fixed(modelAuroc(m.metrics)) + (expected?.warning ? ' !' : ''),
              metric(m.metrics, 'f1'),
              expected
                ? `${formatPercent(expected.goodFlagged)}${expected.goodFlaggedRange ? ` (${rangeLabel(expected.goodFlaggedRange)})` : ''}`
                : '-',
              expected
                ? `${formatPercent(expected.defectsCaught)} ${expected.defectsFrom === 'labels' ? 'labeled' : 'synthetic'}${expected.defectsCaughtRange ? ` (${rangeLabel(expected.defectsCaughtRange)})` : ''}`
                : '-',
              Array.isArray(m.config.layers)
                ? `${layersLabel(m.config.layers as string[])}${layersChosen(m) ? ' (chosen)' : ''}${(m.config.defectHead as DefectHeadCheckDto | undefined)?.used ? ' + head' : ''}${(m.config.defectMemory as DefectMemoryDto | undefined)?.weight ? ' + defects' : ''}${(m.config.places as PlacesDto | undefined)?.used ? ' + by place' : ''}${(m.config.places as PlacesDto | undefined)?.viewed ? ` + scored ${VIEWS_LABEL}` : ''}${m.config.augmented === true ? ` + ${VIEWS_LABEL}` : ''}`
                : '-',
              roi ? formatRoi(roi) : 'whole image',
              m.createdAt.slice(0, 16),
            ]),
          ),
        );
        for (const { m, expected } of rated)
          if (expected?.warning) ctx.out(`! model ${m.id}: ${expected.warning}`);
        return 0;
      }
      if (action === 'activate') {
        const modelId = Number(id);
        if (!Number.isInteger(modelId))
          throw new BadArgumentError(
            'give the id of the model to activate (see `defectscope models list`).',
          );
        const model = store.models.get(modelId);
        if (!model) throw new NotFoundError(`No model ${modelId}.`);
        if (!model.path || model.status === 'failed' || model.status === 'training') {
          throw new BadArgumentError(
            `Model ${modelId} is ${model.status} and cannot be activated.`,
          );
        }
        store.models.activate(modelId);
        ctx.out(`Model ${modelId} is now active for ${model.objectTypes.join(', ')}.`);
        return 0;
      }
      throw new BadArgumentError(`unknown action '${action}'; use list or activate.`);
    });
  },
};
