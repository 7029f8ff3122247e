// `defectscope import <path>`: adds a dataset folder to the store.
import type { Command } from './command.js';
import {
  closing,
  dataHelp,
  dataOptions,
  onlyPositional,
  openStoreFor,
  progressPrinter,
  stringOption,
} from './common.js';
import { importDataset } from '../data/importers/import.js';
import type { Layout } from '../data/importers/scan.js';
import { BadArgumentError } from '../shared/errors.js';

const layouts: Layout[] = ['mvtec', 'folders', 'unlabeled'];

export const command: Command = {
  name: 'import',
  summary: 'import a dataset folder (MVTec AD layout, labeled folders, or unlabeled)',
  help: [
    'Usage: defectscope import <path> [--type NAME] [--layout mvtec|folders|unlabeled] [--json]',
    '',
    'Records every image of the folder (images stay where they are), with labels and masks.',
    'Layouts: mvtec = <type>/train/good, <type>/test/good|<defect>, <type>/ground_truth/<defect>/*_mask.png',
    '         folders = good/, defect/ or <defect-kind>/, or a good/ (defect/) folder itself, whose',
    "                   images take its label (a defect/ folder's subfolders are kinds) and its",
    "                   parent folder's name as their type;",
    '         unlabeled = any images, recursively.',
    'The layout is detected when --layout is not given. Importing the same files again adds nothing.',
    '',
    'Options:',
    '  --type NAME      object type name (default: the folder name, or each <type> folder for MVTec)',
    '  --layout NAME    mvtec, folders or unlabeled',
    '  --who NAME       who the import labels are recorded under (default: import)',
    dataHelp,
  ].join('\n'),
  options: {
    ...dataOptions,
    type: { type: 'string' },
    layout: { type: 'string' },
    who: { type: 'string' },
  },
  async run(args, ctx) {
    const root = onlyPositional(args, 'give exactly one folder to import.');
    const layout = stringOption(args, 'layout');
    if (layout !== undefined && !layouts.includes(layout as Layout)) {
      throw new BadArgumentError(`--layout must be one of ${layouts.join(', ')}, not '${layout}'.`);
    }
    const objectType = stringOption(args, 'type');
    if (objectType !== undefined && !/^[\w.-]{1,64}$/.test(objectType)) {
      throw new BadArgumentError(
        `--type '${objectType}': use letters, digits, '.', '_' or '-' (at most 64).`,
      );
    }
    return closing(openStoreFor(args), async (store) => {
      const progress = progressPrinter(ctx, 'importing');
      const who = stringOption(args, 'who');
      const summary = await importDataset(store, root, {
        ...(layout ? { layout: layout as Layout } : {}),
        ...(objectType ? { objectType } : {}),
        ...(who ? { who } : {}),
        onProgress: (done, total) => progress.update(done, total),
      });
      if (args.values.json) {
        ctx.out(JSON.stringify(summary, null, 2));
      } else {
        ctx.out(
          `Imported ${summary.root} (${summary.layout}): ${summary.added} new images, ${summary.unchanged} already known, ` +
            `${summary.labelsAdded} labels, ${summary.masksAdded} masks, ${summary.failed.length} problems; ` +
            `object types: ${summary.objectTypes.join(', ')}.`,
        );
        for (const problem of summary.failed) ctx.err(`  skipped ${problem.message}`);
      }
      return 0;
    });
  },
};
