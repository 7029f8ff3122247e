// `defectscope types`: object types with image counts per split and label.
import { typeSummaries } from '../inspection/inspect.js';
import type { Command } from './command.js';
import { closing, dataHelp, dataOptions, openStoreFor, table } from './common.js';

export const command: Command = {
  name: 'types',
  summary: 'list object types with counts per split and label',
  help: ['Usage: defectscope types [--json]', '', 'Options:', dataHelp].join('\n'),
  options: dataOptions,
  async run(args, ctx) {
    return closing(openStoreFor(args), (store) => {
      const types = typeSummaries(store);
      if (args.values.json) {
        ctx.out(JSON.stringify(types, null, 2));
        return 0;
      }
      if (types.length === 0) {
        ctx.out('No object types yet. Import a folder with `defectscope import <folder>`.');
        return 0;
      }
      const total = (t: (typeof types)[number], label: 'good' | 'defect' | 'unlabeled') =>
        t.counts.train[label] + t.counts.test[label] + t.counts.unsplit[label];
      const rows = types.map((t) => [
        t.name,
        t.images,
        total(t, 'good'),
        total(t, 'defect'),
        total(t, 'unlabeled'),
        t.counts.train.good,
        t.counts.test.good,
        t.counts.test.defect,
        t.masks,
        t.defectKinds.join(',') || '-',
      ]);
      ctx.out(
        table(
          [
            'type',
            'images',
            'good',
            'defect',
            'unlabeled',
            'train good',
            'test good',
            'test defect',
            'masks',
            'defect kinds',
          ],
          rows,
        ),
      );
      return 0;
    });
  },
};
