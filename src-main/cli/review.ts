// `defectscope review list|verdict|confirm-ok`: the review queue (flagged and unsure results
// without a verdict, most uncertain first), recording a verdict, and confirming an inspection's OK
// results good in one go, through the same calls the app uses.
import type { Command } from './command.js';
import { closing, dataHelp, dataOptions, intOption, stringOption, table } from './common.js';
import { servicesFor } from './follow-job.js';
import { BadArgumentError } from '../shared/errors.js';

const statuses = { flagged: ['DEFECT'], unsure: ['UNSURE'], all: ['DEFECT', 'UNSURE'] } as const;

export const command: Command = {
  name: 'review',
  summary: 'list results waiting for review, or record a verdict',
  help: [
    'Usage: defectscope review list [--type NAME] [--inspection ID] [--status flagged|unsure|all] [--json]',
    '       defectscope review verdict <result-id> defect|good [--note TEXT] [--by NAME]',
    '       defectscope review confirm-ok <inspection-id> [--by NAME]',
    '',
    'The queue holds DEFECT and UNSURE results without a verdict, closest to the threshold first',
    '(those teach the next model the most). A verdict is stored with who and when and labels the',
    'image for the next `defectscope retrain`; the result keeps its decision for the audit trail.',
    'confirm-ok gives every OK result of the inspection without a verdict a good one, once you',
    'have looked at them: a type inspected zero-shot so gets the good images a retrain needs.',
    '',
    'Options:',
    '  --type NAME        only this object type',
    '  --inspection ID    only this inspection',
    '  --status WHICH     flagged (DEFECT), unsure, or all (default)',
    '  --limit N          at most N rows (default 50)',
    '  --note TEXT        verdict: a note for the record',
    '  --by NAME          verdict: who (default: the inspector in the settings)',
    dataHelp,
  ].join('\n'),
  options: {
    ...dataOptions,
    type: { type: 'string' },
    inspection: { type: 'string' },
    status: { type: 'string' },
    limit: { type: 'string' },
    note: { type: 'string' },
    by: { type: 'string' },
  },
  async run(args, ctx) {
    const [action, ...rest] = args.positionals;
    if (action === 'list') {
      if (rest.length > 0) throw new BadArgumentError('review list takes no positional arguments.');
      const status = stringOption(args, 'status') ?? 'all';
      if (!Object.hasOwn(statuses, status))
        throw new BadArgumentError(`--status must be flagged, unsure or all, not '${status}'.`);
      const wanted: readonly string[] = statuses[status as keyof typeof statuses];
      const objectType = stringOption(args, 'type');
      const inspectionId = stringOption(args, 'inspection')
        ? intOption(args, 'inspection', 1)
        : undefined;
      const limit = intOption(args, 'limit', 50);
      return closing(servicesFor(args), async (services) => {
        const queue = (
          await services.router.invoke('review/queue', {
            ...(objectType ? { objectType } : {}),
            ...(inspectionId !== undefined ? { inspectionId } : {}),
            limit: 1000,
          })
        )
          .filter((r) => wanted.includes(r.decision!))
          .slice(0, limit);
        if (args.values.json) {
          ctx.out(JSON.stringify(queue, null, 2));
          return 0;
        }
        if (queue.length === 0) {
          ctx.out('Nothing waits for review.');
          return 0;
        }
        ctx.out(
          table(
            ['result', 'decision', 'score', 'type', 'inspection', 'image'],
            queue.map((r) => [
              r.id,
              r.decision!,
              r.score!.toFixed(3),
              r.objectType ?? '',
              r.inspectionId,
              r.path,
            ]),
          ),
        );
        ctx.out(
          `${queue.length} waiting. Record one: defectscope review verdict <result> defect|good`,
        );
        return 0;
      });
    }
    if (action === 'verdict') {
      const [idText, verdict, ...more] = rest;
      if (!idText || !verdict || more.length > 0)
        throw new BadArgumentError('usage: defectscope review verdict <result-id> defect|good');
      const resultId = Number(idText);
      if (!Number.isInteger(resultId) || resultId < 1)
        throw new BadArgumentError(`'${idText}' is not a result id.`);
      if (verdict !== 'defect' && verdict !== 'good')
        throw new BadArgumentError(`The verdict is defect or good, not '${verdict}'.`);
      const note = stringOption(args, 'note');
      const who = stringOption(args, 'by');
      return closing(servicesFor(args), async (services) => {
        const review = await services.router.invoke('review/verdict', {
          resultId,
          verdict,
          ...(note !== undefined ? { note } : {}),
          ...(who !== undefined ? { who } : {}),
        });
        if (args.values.json) ctx.out(JSON.stringify(review, null, 2));
        else
          ctx.out(
            `Result ${resultId}: ${review.verdict} (review ${review.id}, by ${review.who} at ${review.at}).`,
          );
        return 0;
      });
    }
    if (action === 'confirm-ok') {
      const [idText, ...more] = rest;
      if (!idText || more.length > 0)
        throw new BadArgumentError('usage: defectscope review confirm-ok <inspection-id>');
      const inspectionId = Number(idText);
      if (!Number.isInteger(inspectionId) || inspectionId < 1)
        throw new BadArgumentError(`'${idText}' is not an inspection id.`);
      const who = stringOption(args, 'by');
      return closing(servicesFor(args), async (services) => {
        const summary = await services.router.invoke('review/confirm-ok', {
          inspectionId,
          ...(who !== undefined ? { who } : {}),
        });
        if (args.values.json) {
          ctx.out(JSON.stringify(summary, null, 2));
        } else {
          ctx.out(`Inspection ${inspectionId}: ${summary.confirmed} OK result(s) confirmed good.`);
          for (const skipped of summary.skipped) ctx.err(`Not recorded: ${skipped.message}`);
        }
        return 0;
      });
    }
    throw new BadArgumentError(
      'use `defectscope review list`, `defectscope review verdict` or `defectscope review confirm-ok`.',
    );
  },
};
