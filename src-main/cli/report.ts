// `defectscope report <inspection-id> --html FILE | --csv FILE`: an inspection as a page to
// share (summary, histogram, flagged heatmaps, every row) or as a spreadsheet.
import { resolve } from 'node:path';
import type { Command } from './command.js';
import { closing, dataDirHelp, dataDirOption, openStoreFor, stringOption } from './common.js';
import { writeCsvReport, writeHtmlReport } from '../inspection/report.js';
import { BadArgumentError } from '../shared/errors.js';

export const command: Command = {
  name: 'report',
  summary: 'write an inspection as an HTML report or a CSV file',
  help: [
    'Usage: defectscope report <inspection-id> [--html FILE] [--csv FILE]',
    '',
    'HTML: counts, model and threshold, a score histogram with the threshold, the flagged images with',
    'their heatmaps (embedded, so the file stands alone) and every result. CSV: one row per file.',
    '',
    'Options:',
    '  --html FILE      write the HTML report here',
    '  --csv FILE       write the CSV here',
    dataDirHelp,
  ].join('\n'),
  options: { ...dataDirOption, html: { type: 'string' }, csv: { type: 'string' } },
  async run(args, ctx) {
    const [idText, ...extra] = args.positionals;
    const inspectionId = Number(idText);
    if (!idText || extra.length > 0 || !Number.isInteger(inspectionId) || inspectionId < 1)
      throw new BadArgumentError('give one inspection id (defectscope inspect prints it).');
    const html = stringOption(args, 'html');
    const csv = stringOption(args, 'csv');
    if (!html && !csv) throw new BadArgumentError('give --html FILE, --csv FILE or both.');
    return closing(openStoreFor(args), async (store) => {
      if (html) {
        await writeHtmlReport(store, inspectionId, resolve(html));
        ctx.out(`HTML report: ${resolve(html)}`);
      }
      if (csv) {
        const rows = await writeCsvReport(store, inspectionId, resolve(csv));
        ctx.out(`CSV report: ${resolve(csv)} (${rows} rows)`);
      }
      return 0;
    });
  },
};
