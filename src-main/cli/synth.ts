// `defectscope synth`: writes a synthetic dataset of textures and objects with pixel-exact defect
// masks in MVTec AD layout, and optionally a contact sheet to judge it by eye.
import { performance } from 'node:perf_hooks';
import { writeContactSheet } from '../data/synthetic/contact-sheet.js';
import {
  DEFAULT_PER_TYPE,
  DEFAULT_SEED,
  generateDataset,
  type SynthSummary,
} from '../data/synthetic/generate.js';
import {
  DEFAULT_SIZE,
  MAX_SIZE,
  MIN_SIZE,
  productTypeNamed,
  productTypes,
} from '../data/synthetic/sample.js';
import { BadArgumentError } from '../shared/errors.js';
import type { Command, ParsedArgs } from './command.js';

const MAX_PER_TYPE = 100_000;

const typeLines = productTypes
  .map((t) => `  ${t.name.padEnd(8)} ${t.kind}, defects: ${t.defectKinds.join(', ')}`)
  .join('\n');

const help = `Usage: defectscope synth <out> [options]

Writes synthetic object types in MVTec AD layout, with a ground-truth mask for every defect:
  <out>/<type>/train/good/000.png
  <out>/<type>/test/good/000.png            <out>/<type>/test/<defect>/000.png
  <out>/<type>/ground_truth/<defect>/000_mask.png   (255 = defect)
The same seed always writes the same bytes. A type folder that already holds files is never
written into.

Types:
${typeLines}

Options:
  --seed N              random seed (default ${DEFAULT_SEED})
  --per-type N          good training images per type (default ${DEFAULT_PER_TYPE}); the test split
                        gets about N/2 good and N/2 defective images
  --size PX             image width and height (default ${DEFAULT_SIZE}, ${MIN_SIZE}–${MAX_SIZE})
  --types a,b           only these types (default: all)
  --contact-sheet FILE  also write a PNG overview of good and defective samples with their masks
                        outlined; <out> may then be left out
  --json                print the summary as JSON`;

function wholeNumber(value: unknown, option: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value).trim();
  const number = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(number) || number < min || number > max) {
    throw new BadArgumentError(
      `--${option} must be a whole number from ${min} to ${max}, not '${text}'.`,
    );
  }
  return number;
}

function typeList(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  const names = [
    ...new Set(
      String(value)
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean),
    ),
  ];
  if (names.length === 0) throw new BadArgumentError('--types needs at least one type name.');
  for (const name of names) productTypeNamed(name);
  return names;
}

function table(summary: SynthSummary): string[] {
  const header = ['type', 'kind', 'train/good', 'test/good', 'test/defect', 'defect kinds'];
  const rows = summary.types.map((t) => [
    t.name,
    t.kind,
    String(t.counts.trainGood),
    String(t.counts.testGood),
    String(t.counts.testDefect),
    t.defectKinds.join(', '),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => (c === cells.length - 1 ? cell : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

export const command: Command = {
  name: 'synth',
  summary: 'write a synthetic defect dataset (MVTec layout, with masks)',
  help,
  options: {
    seed: { type: 'string' },
    'per-type': { type: 'string' },
    size: { type: 'string' },
    types: { type: 'string' },
    'contact-sheet': { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(args: ParsedArgs, ctx) {
    const { values, positionals } = args;
    if (positionals.length > 1) {
      throw new BadArgumentError(
        `Expected one output folder, got ${positionals.length}: ${positionals.join(' ')}.`,
      );
    }
    const out = positionals[0];
    const contactSheet =
      values['contact-sheet'] === undefined ? undefined : String(values['contact-sheet']);
    if (out === undefined && contactSheet === undefined) {
      throw new BadArgumentError('Say where to write the dataset: defectscope synth <out>.');
    }
    const options = {
      seed: wholeNumber(values.seed, 'seed', 0, 2 ** 32 - 1),
      perType: wholeNumber(values['per-type'], 'per-type', 1, MAX_PER_TYPE),
      size: wholeNumber(values.size, 'size', MIN_SIZE, MAX_SIZE),
      types: typeList(values.types),
    };
    const started = performance.now();
    let dataset: SynthSummary | undefined;
    let sheet: { file: string; width: number; height: number; bytes: number } | undefined;

    if (out !== undefined) {
      let typeStarted = started;
      dataset = await generateDataset(out, options, (progress) => {
        if (progress.typeDone < progress.typeTotal) return;
        const seconds = ((performance.now() - typeStarted) / 1000).toFixed(1);
        ctx.err(
          `synth: ${progress.objectType} written ` +
            `(${progress.done}/${progress.total} images, ${seconds} s)`,
        );
        typeStarted = performance.now();
      });
      if (!values.json) {
        for (const line of table(dataset)) ctx.out(line);
        const images = dataset.types.reduce(
          (n, t) => n + t.counts.trainGood + t.counts.testGood + t.counts.testDefect,
          0,
        );
        const seconds = ((performance.now() - started) / 1000).toFixed(1);
        ctx.out(`Wrote ${images} images to ${out} in ${seconds} s (seed ${dataset.seed}).`);
      }
    }
    if (contactSheet !== undefined) {
      sheet = { file: contactSheet, ...(await writeContactSheet(contactSheet, options)) };
      if (!values.json) {
        const kib = Math.round(sheet.bytes / 1024);
        ctx.out(`Contact sheet: ${contactSheet} (${sheet.width}×${sheet.height}, ${kib} KiB).`);
      }
    }
    if (values.json)
      ctx.out(JSON.stringify({ ...dataset, ...(sheet ? { contactSheet: sheet } : {}) }, null, 2));
    return 0;
  },
};
