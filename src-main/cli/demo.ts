// `defectscope demo` (npm run demo): the whole loop on an embedded default, offline, in a few
// minutes — generate a synthetic dataset, import the seen object types, pretrain SimCLR briefly,
// fit one-class models for the seen types, inspect folders of the seen types and of a type never
// seen before (zero-shot), and print per-type metrics from the stored results against the
// generator's ground truth, with an HTML report per inspection.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from './command.js';
import { dataDirOption, stringOption, table } from './common.js';
import { runJob, servicesFor } from './follow-job.js';
import { generateDataset } from '../data/synthetic/generate.js';
import { atThreshold, imageMetrics } from '../engine/metrics.js';
import { writeHtmlReport } from '../inspection/report.js';
import type { ImportSummary, InspectSummary, RetrainSummary, TrainResult } from '../shared/dto.js';
import { BadArgumentError } from '../shared/errors.js';

const SEEN = ['bottle', 'wood', 'pill'];
const UNSEEN = ['nut'];
const SIZE = 128;

/**
 * A camera folder for a type: its test images (good and defective) and, for a type never seen
 * before, its would-be training images too — a production folder is mostly good parts, which
 * zero-shot scoring relies on. Returns the ground truth per file.
 */
function cameraFolder(dataset: string, type: string, out: string, withTrain: boolean) {
  const folder = join(out, type);
  mkdirSync(folder, { recursive: true });
  const truth = new Map<string, number>();
  const splits = [
    join(dataset, type, 'test'),
    ...(withTrain ? [join(dataset, type, 'train')] : []),
  ];
  for (const [s, split] of splits.entries()) {
    for (const kind of readdirSync(split)) {
      for (const name of readdirSync(join(split, kind))) {
        const target = resolve(folder, `${s === 0 ? 'test' : 'train'}-${kind}-${name}`);
        copyFileSync(join(split, kind, name), target);
        truth.set(target, kind === 'good' ? 0 : 1);
      }
    }
  }
  return { folder, truth };
}

export const command: Command = {
  name: 'demo',
  summary: 'run the whole loop on generated data and print the metrics (a few minutes, offline)',
  help: [
    'Usage: defectscope demo [--data-dir DIR] [--simclr-seconds S]',
    '',
    `Generates a synthetic dataset, imports ${SEEN.join(', ')} (the seen types), pretrains SimCLR briefly,`,
    `fits a one-class model per seen type, inspects folders of the seen types and of ${UNSEEN.join(', ')}`,
    '(never seen: scored zero-shot), stores everything, prints per-type metrics against the ground',
    'truth and writes an HTML report per inspection.',
    '',
    'Options:',
    '  --data-dir DIR   data folder (default: a new folder under the system temp folder)',
  ].join('\n'),
  options: { ...dataDirOption, backend: { type: 'string' } },
  async run(args, ctx) {
    if (args.positionals.length > 0) throw new BadArgumentError('demo takes no arguments.');
    const started = Date.now();
    const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
    const work = mkdtempSync(join(tmpdir(), 'defectscope-demo-'));
    const dataDir = resolve(stringOption(args, 'data-dir') ?? join(work, 'data'));
    const services = servicesFor({ ...args, values: { ...args.values, 'data-dir': dataDir } });
    const { router } = services;
    try {
      const dataset = join(work, 'dataset');
      ctx.err(`[${elapsed()}] generating the synthetic dataset in ${dataset}`);
      await generateDataset(dataset, {
        seed: 7,
        perType: 24,
        size: SIZE,
        types: [...SEEN, ...UNSEEN],
      });

      for (const type of SEEN) {
        const summary = await runJob<ImportSummary>(
          services,
          ctx,
          'import',
          router.invoke('datasets/import', {
            root: join(dataset, type),
            objectType: type,
            layout: 'mvtec',
          }),
        );
        ctx.err(
          `[${elapsed()}] imported ${type}: ${summary.added} images, ${summary.labelsAdded} labels`,
        );
      }

      // A short, bounded SimCLR run on the seen types' unlabeled images (wasm on two cores).
      const pretrained = await runJob<TrainResult>(
        services,
        ctx,
        'simclr',
        router.invoke('train/start', {
          method: 'simclr',
          objectTypes: SEEN,
          encoder: 'resnet',
          inputSize: 64,
          // About a minute of wasm on two cores: enough to show the loss falling, bounded by design.
          epochs: 8,
          batchSize: 16,
          limitPerType: 16,
          seed: 7,
        }),
      );
      ctx.err(`[${elapsed()}] SimCLR: ${pretrained.summary} (model ${pretrained.modelId})`);

      for (const type of SEEN) {
        const result = await runJob<RetrainSummary>(
          services,
          ctx,
          `retrain ${type}`,
          router.invoke('retrain/start', { objectType: type, inputSize: SIZE }),
        );
        ctx.err(`[${elapsed()}] ${type}: model ${result.modelId}, ${result.reason}`);
      }

      const cameras = join(work, 'camera');
      const rows: (string | number)[][] = [];
      const reports: string[] = [];
      for (const type of [...SEEN, ...UNSEEN]) {
        const seen = SEEN.includes(type);
        const { folder, truth } = cameraFolder(dataset, type, cameras, !seen);
        const summary = await runJob<InspectSummary>(
          services,
          ctx,
          `inspect ${type}`,
          router.invoke('inspect/start', { folder, objectType: type, inputSize: SIZE }),
        );
        // Metrics from what the store holds, against the generator's ground truth.
        const scores: number[] = [];
        const labels: number[] = [];
        for (const r of services.ctx.store.results.iterate(summary.inspectionId)) {
          if (r.score === null) continue;
          scores.push(r.score);
          labels.push(truth.get(r.path) ?? 0);
        }
        const image = imageMetrics(scores, labels);
        // Flagged = DEFECT or UNSURE (both reach the inspector), i.e. score ≥ 0.5 − band.
        const at = atThreshold(scores, labels, 0.45);
        rows.push([
          type,
          seen ? 'seen' : 'NEVER seen',
          summary.modelId !== null ? `one-class #${summary.modelId}` : 'zero-shot',
          scores.length,
          labels.filter((l) => l === 1).length,
          image.imageAuroc.toFixed(3),
          image.averagePrecision.toFixed(3),
          image.f1Max.toFixed(3),
          at.recall.toFixed(3),
          (at.fp / Math.max(1, at.fp + at.tn)).toFixed(3),
        ]);
        const report = join(work, `report-${type}.html`);
        await writeHtmlReport(services.ctx.store, summary.inspectionId, report);
        reports.push(report);
        ctx.err(
          `[${elapsed()}] inspected ${type}: inspection ${summary.inspectionId}, ${summary.flagged} DEFECT, ${summary.unsure} UNSURE`,
        );
      }

      ctx.out('');
      ctx.out(
        table(
          [
            'type',
            'context',
            'scored by',
            'images',
            'defects',
            'AUROC',
            'AP',
            'F1-max',
            'recall',
            'false alarms',
          ],
          rows,
        ),
      );
      ctx.out('');
      ctx.out('recall and false alarms: share of defects / good parts flagged DEFECT or UNSURE.');
      ctx.out(`Data folder: ${dataDir}`);
      ctx.out(`HTML report (never-seen type): ${reports.at(-1)}`);
      ctx.out(`Other reports: ${reports.slice(0, -1).join(', ')}`);
      ctx.out(`Demo finished in ${elapsed()}.`);
      return 0;
    } finally {
      await services.close();
    }
  },
};
