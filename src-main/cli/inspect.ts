// `defectscope inspect <folder> --type NAME [--watch]`: scores a camera folder as an inspect/start
// job (the engine host scores, the store keeps every result) and prints the worst images; with
// --watch it keeps scoring new files until Ctrl-C, which stops it cleanly.
import type { Command } from './command.js';
import {
  closing,
  engineHelp,
  engineOptions,
  intOption,
  layersOption,
  objectTypeOption,
  onlyPositional,
  resultTable,
  stringOption,
} from './common.js';
import { runJob, servicesFor } from './follow-job.js';
import {
  DEFAULT_INPUT_SIZE,
  MAX_INPUT_SIZE,
  type InspectSummary,
  type InspectionResultDto,
  type Page,
  unreadableReason,
} from '../shared/dto.js';
import { modelExpectation, mostlyFlaggedWarning } from '../shared/model-quality.js';
import { BadArgumentError } from '../shared/errors.js';
import { formatRoi, parseRoi } from '../shared/roi.js';
import type { AppServices } from '../api/services.js';

/** Every file of an inspection that could not be read, with the reason the store holds. */
async function unreadableFiles(
  services: AppServices,
  inspectionId: number,
): Promise<{ path: string; error: string }[]> {
  const files: { path: string; error: string }[] = [];
  let offset: number | null = 0;
  while (offset !== null) {
    const page: Page<InspectionResultDto> = await services.router.invoke('inspect/results', {
      inspectionId,
      unreadable: true,
      offset,
      limit: 1000,
    });
    files.push(...page.items.map((r) => ({ path: r.path, error: r.error ?? '' })));
    offset = page.nextOffset;
  }
  return files;
}

export const command: Command = {
  name: 'inspect',
  summary: 'score a camera folder (and with --watch, its new files) for an object type',
  help: [
    'Usage: defectscope inspect <folder> --type NAME [--watch] [--top N] [--json]',
    '',
    "Scores every image of the folder (not its subfolders) with the type's active model; a type",
    'without a model (even one never seen before) is scored zero-shot against the folder itself.',
    'Results, heatmaps and the inspection are stored (review them with `defectscope review`, report',
    'with `defectscope report`).',
    'Files still being written are waited for; unreadable files are reported and skipped.',
    '',
    'Options:',
    '  --type NAME        object type of the folder',
    '  --watch            keep scoring new files as they arrive, until Ctrl-C',
    '  --top N            rows of the worst-first table (default 15)',
    '  --model ID         score with this model instead of the active one',
    `  --size PX          zero-shot input side (default ${DEFAULT_INPUT_SIZE})`,
    '  --layers L,...     zero-shot feature maps (default stride8,stride16mid: MobileNetV3 block 8',
    '                     for stride 16; stride4, stride8, stride16 also; thin defects:',
    "                     --size 448 --layers stride4,stride8, the app's Fine detail)",
    '  --roi X,Y,W,H      zero-shot region of interest in image pixels (left, top, width, height):',
    '                     only the part inside is scored and gets a heatmap (a model keeps to its own);',
    "                     default: the type's latest zero-shot inspection's; none: the whole image",
    '  --heatmaps WHICH   flagged (default), all or none',
    '  --resume ID        continue inspection ID (after a crash): score only files without a result',
    engineHelp,
  ].join('\n'),
  options: {
    ...engineOptions,
    type: { type: 'string' },
    watch: { type: 'boolean' },
    top: { type: 'string' },
    model: { type: 'string' },
    size: { type: 'string' },
    layers: { type: 'string' },
    roi: { type: 'string' },
    heatmaps: { type: 'string' },
    resume: { type: 'string' },
  },
  async run(args, ctx) {
    const folder = onlyPositional(args, 'give exactly one folder to inspect.');
    const objectType = objectTypeOption(args);
    const heatmaps = stringOption(args, 'heatmaps');
    if (heatmaps !== undefined && !['flagged', 'all', 'none'].includes(heatmaps))
      throw new BadArgumentError(`--heatmaps must be flagged, all or none, not '${heatmaps}'.`);
    const top = intOption(args, 'top', 15);
    const modelId = stringOption(args, 'model') ? intOption(args, 'model', 1) : undefined;
    const inspectionId = stringOption(args, 'resume') ? intOption(args, 'resume', 1) : undefined;
    const size = stringOption(args, 'size')
      ? intOption(args, 'size', DEFAULT_INPUT_SIZE, 32, MAX_INPUT_SIZE)
      : undefined;
    const layers = layersOption(args);
    const roiText = stringOption(args, 'roi');
    const roi = roiText === undefined ? null : parseRoi(roiText);
    return closing(servicesFor(args), async (services) => {
      const watch = Boolean(args.values.watch);
      // Said first: a model whose validation shows it cannot separate would pass most defects.
      const models = await services.router.invoke('models/list', { objectType });
      const scorer = models.find((m) =>
        modelId !== undefined ? m.id === modelId : m.status === 'active',
      );
      const warning = modelExpectation(scorer?.metrics)?.warning ?? null;
      if (warning) ctx.err(`WARNING: ${warning}`);
      if (scorer && (size !== undefined || layers))
        ctx.err(
          `Note: --size and --layers set zero-shot scoring; model ${scorer.id} scores ${objectType} at the settings it was retrained with.`,
        );
      // While watching, each flagged file is news worth a line of its own.
      const off = watch
        ? services.ctx.events.on('inspect/result', (r) => {
            if (r.decision === 'DEFECT' || r.decision === 'UNSURE' || r.error)
              ctx.err(`${r.decision ?? 'UNREADABLE'} ${r.score?.toFixed(3) ?? ''} ${r.path}`);
          })
        : () => {};
      let summary: InspectSummary;
      try {
        summary = await runJob<InspectSummary>(
          services,
          ctx,
          'inspect',
          services.router.invoke('inspect/start', {
            folder,
            objectType,
            ...(watch ? { watch } : {}),
            ...(modelId !== undefined ? { modelId } : {}),
            ...(inspectionId !== undefined ? { inspectionId } : {}),
            ...(size !== undefined ? { inputSize: size } : {}),
            ...(layers ? { layers } : {}),
            ...(roiText !== undefined ? { roi } : {}),
            ...(heatmaps ? { heatmaps: heatmaps as 'flagged' | 'all' | 'none' } : {}),
          }),
        );
      } finally {
        off();
      }
      const worst = await services.router.invoke('inspect/results', {
        inspectionId: summary.inspectionId,
        limit: top,
      });
      const unreadable = await unreadableFiles(services, summary.inspectionId);
      const batchWarning = mostlyFlaggedWarning(summary);
      if (args.values.json) {
        ctx.out(
          JSON.stringify(
            { ...summary, warning, batchWarning, worst: worst.items, unreadable },
            null,
            2,
          ),
        );
        return 0;
      }
      // A watch stopped before any file arrived chose no scorer: not zero-shot, nothing.
      const scoredBy =
        summary.modelId !== null
          ? `model ${summary.modelId}, ${summary.modelKind}`
          : summary.scored + summary.failed > 0
            ? 'zero-shot'
            : 'nothing scored';
      const within = summary.roi ? `, within the region ${formatRoi(summary.roi)}` : '';
      ctx.out(
        `Inspection ${summary.inspectionId} of ${summary.folder} as '${summary.objectType}' ` +
          `(${scoredBy}${within}), ${summary.seconds.toFixed(1)} s:`,
      );
      // Why a file was unreadable is listed under the table.
      if (worst.items.length > 0) ctx.out(resultTable(worst.items));
      // Which camera files to re-export, and why: the count alone does not say.
      if (unreadable.length > 0) {
        ctx.out('Unreadable:');
        const width = Math.max(...unreadable.map((u) => u.path.length));
        for (const file of unreadable)
          ctx.out(`  ${file.path.padEnd(width)}  ${unreadableReason(file)}`);
      }
      ctx.out(
        `${summary.flagged} DEFECT, ${summary.unsure} UNSURE, ${summary.ok} OK, ${summary.failed} unreadable. ` +
          `Review: defectscope review list; report: defectscope report ${summary.inspectionId} --html FILE`,
      );
      if (batchWarning) ctx.err(`WARNING: ${batchWarning}`);
      return 0;
    });
  },
};
