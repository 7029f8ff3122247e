// `defectscope score <image|folder> --type NAME`: scores images with the type's active model
// (zero-shot when it has none) and optionally writes heatmap overlays.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from './command.js';
import {
  closing,
  engineHelp,
  engineOptions,
  objectTypeOption,
  onlyPositional,
  openStoreFor,
  resultTable,
  stringOption,
} from './common.js';
import { initBackend } from '../engine/backend.js';
import { listImages } from '../inspection/inspect.js';
import { scoreForType } from '../inspection/scoring.js';
import { BadArgumentError, NotFoundError } from '../shared/errors.js';

function imagePaths(target: string): string[] {
  let stats;
  try {
    stats = statSync(target);
  } catch {
    throw new NotFoundError(`No such file or folder: ${target}`);
  }
  return stats.isFile() ? [resolve(target)] : listImages(target);
}

export const command: Command = {
  name: 'score',
  summary: "score an image or a folder with an object type's active model",
  help: [
    'Usage: defectscope score <image|folder> --type NAME [--heatmaps DIR] [--json]',
    '',
    'Scores are 0..1 with the decision threshold at 0.5; decisions are OK, DEFECT or UNSURE.',
    'A type without a model is scored zero-shot: each image against the others of the folder.',
    '',
    'Options:',
    '  --type NAME      object type whose model scores the images',
    '  --heatmaps DIR   write a heatmap overlay PNG per image into DIR',
    engineHelp,
  ].join('\n'),
  options: {
    ...engineOptions,
    type: { type: 'string' },
    heatmaps: { type: 'string' },
  },
  async run(args, ctx) {
    const target = onlyPositional(args, 'give exactly one image or folder to score.');
    const objectType = objectTypeOption(args);
    const paths = imagePaths(target);
    if (paths.length === 0) throw new BadArgumentError(`No images in ${target}.`);
    const heatmapDir = stringOption(args, 'heatmaps');
    return closing(openStoreFor(args), async (store) => {
      await initBackend(stringOption(args, 'backend'));
      const scoring = await scoreForType(store, objectType, paths, {
        ...(heatmapDir ? { heatmapDir: resolve(heatmapDir) } : {}),
      });
      if (args.values.json) {
        ctx.out(JSON.stringify(scoring, null, 2));
        return 0;
      }
      ctx.out(
        `Scored with ${scoring.model.name}${scoring.model.id !== null ? ` (model ${scoring.model.id})` : ''}:`,
      );
      const worstFirst = [...scoring.results].sort((a, b) => b.score - a.score);
      if (worstFirst.length > 0) ctx.out(resultTable(worstFirst));
      const counts = { OK: 0, DEFECT: 0, UNSURE: 0 };
      for (const r of scoring.results) counts[r.decision]++;
      ctx.out(
        `${counts.DEFECT} DEFECT, ${counts.UNSURE} UNSURE, ${counts.OK} OK, ${scoring.errors.length} unreadable`,
      );
      for (const e of scoring.errors) ctx.err(`  skipped ${e.message}`);
      return 0;
    });
  },
};
