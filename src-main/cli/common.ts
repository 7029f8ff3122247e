// Options and helpers shared by CLI commands: the data folder, --json, opening and closing what a
// command works on, and a progress line.
import type { CliContext, OptionSpec, ParsedArgs } from './command.js';
import { openStore, type Store } from '../store/store.js';
import { BadArgumentError } from '../shared/errors.js';
import { FEATURE_NAMES, VIEWS_CHOICES, type FeatureName, type ViewsChoice } from '../shared/dto.js';

export const dataDirOption: OptionSpec = { 'data-dir': { type: 'string' } };
export const jsonOption: OptionSpec = { json: { type: 'boolean' } };

export const dataDirHelp =
  '  --data-dir DIR   data folder (default: $DEFECTSCOPE_DATA, else the OS app-data folder)';
export const jsonHelp = '  --json           print the result as JSON';

/** --data-dir and --json: the options of every command that reads the data folder and prints. */
export const dataOptions: OptionSpec = { ...dataDirOption, ...jsonOption };
/** Their help lines, which end such a command's --help. */
export const dataHelp = [dataDirHelp, jsonHelp].join('\n');

/** Those and --backend (the engine's TF.js backend): the options of the commands that score or fit. */
export const engineOptions: OptionSpec = { ...dataOptions, backend: { type: 'string' } };
export const engineHelp = ['  --backend NAME   gpu, webgpu, node, wasm or cpu', dataHelp].join(
  '\n',
);

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

/** The command's one positional argument; `usage` says what to give when there is not one. */
export function onlyPositional(args: ParsedArgs, usage: string): string {
  const [only, ...extra] = args.positionals;
  if (!only || extra.length > 0) throw new BadArgumentError(usage);
  return only;
}

/** `--type NAME`, which the commands about one object type require. */
export function objectTypeOption(args: ParsedArgs): string {
  const objectType = stringOption(args, 'type');
  if (!objectType) throw new BadArgumentError('--type NAME is required.');
  return objectType;
}

export function intOption(
  args: ParsedArgs,
  name: string,
  fallback: number,
  min = 1,
  max = Infinity,
): number {
  const text = stringOption(args, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Infinity ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new BadArgumentError(`--${name} must be a whole number ${range}, not '${text}'.`);
  }
  return value;
}

/**
 * `--scales S,...` (or `--centred-scales`): image scales for the one-class detector, each a
 * fraction in (0, 1].
 */
export function scalesOption(
  args: ParsedArgs,
  name: 'scales' | 'centred-scales' = 'scales',
): number[] | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  const scales = text.split(',').map(Number);
  if (scales.some((s) => !(s > 0 && s <= 1)))
    throw new BadArgumentError(`--${name} takes fractions in (0, 1], e.g. 1,0.5; got '${text}'.`);
  return scales;
}

/**
 * `--tile-scale PX|none`: the short side large images are scored at in tiles of the input size,
 * or none (whole images); undefined when not given. The detector checks it against its tiles.
 */
export function tileScaleOption(args: ParsedArgs): number | null | undefined {
  const text = stringOption(args, 'tile-scale');
  if (text === undefined || text === 'none') return text === 'none' ? null : undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 32)
    throw new BadArgumentError(
      `--tile-scale takes the short side in pixels to score at in tiles, e.g. 448, or none; got '${text}'.`,
    );
  return value;
}

/** `--NAME on|off` → true / false; undefined when absent. */
export function onOffOption(args: ParsedArgs, name: string): boolean | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  if (text !== 'on' && text !== 'off')
    throw new BadArgumentError(`--${name} takes on or off; got '${text}'.`);
  return text === 'on';
}

/** `--views auto|on|off`: whether a one-class model also scores each image mirrored and turned. */
export function viewsOption(args: ParsedArgs): ViewsChoice | undefined {
  const text = stringOption(args, 'views');
  if (text === undefined) return undefined;
  if (!VIEWS_CHOICES.includes(text as ViewsChoice))
    throw new BadArgumentError(`--views takes ${VIEWS_CHOICES.join(', ')}; got '${text}'.`);
  return text as ViewsChoice;
}

/** `--layers stride4,stride8`: the encoder feature maps patch features come from. */
export function layersOption(args: ParsedArgs): FeatureName[] | undefined {
  const text = stringOption(args, 'layers');
  if (text === undefined) return undefined;
  const layers = text.split(',').map((l) => l.trim());
  const unknown = layers.filter((l) => !FEATURE_NAMES.includes(l as FeatureName));
  if (layers.length === 0 || unknown.length > 0 || new Set(layers).size !== layers.length)
    throw new BadArgumentError(
      `--layers takes distinct names from ${FEATURE_NAMES.join(', ')}, e.g. stride4,stride8; got '${text}'.`,
    );
  return layers as FeatureName[];
}

export function openStoreFor(args: ParsedArgs): Store {
  return openStore(stringOption(args, 'data-dir'));
}

/**
 * Runs a command's work on what it opened (the store, or the app's services) and closes that
 * afterwards, also when the work fails: `closing(openStoreFor(args), (store) => …)`.
 */
export async function closing<Opened extends { close(): unknown }, T>(
  opened: Opened,
  work: (opened: Opened) => Promise<T> | T,
): Promise<T> {
  try {
    return await work(opened);
  } finally {
    await opened.close();
  }
}

/** A progress reporter: redraws one line on a terminal, prints every ~10 % otherwise. */
export function progressPrinter(ctx: CliContext, label: string) {
  const started = Date.now();
  let lastDecile = -1;
  return {
    update(done: number, total: number, extra = '') {
      const elapsed = (Date.now() - started) / 1000;
      const rate = done / Math.max(elapsed, 1e-3);
      const eta = rate > 0 ? Math.round((total - done) / rate) : 0;
      const line = `${label} ${done}/${total} (${Math.round((100 * done) / Math.max(total, 1))} %, ${rate.toFixed(1)}/s, ETA ${eta}s)${extra ? ' ' + extra : ''}`;
      if (ctx.interactive) {
        process.stderr.write(`\r${line}\x1b[K`);
        if (done === total) process.stderr.write('\n');
      } else {
        const decile = Math.floor((10 * done) / Math.max(total, 1));
        if (decile !== lastDecile) {
          lastDecile = decile;
          ctx.err(line);
        }
      }
    },
  };
}

/** Cells that read as a number (or nothing): their columns line up on the right. */
const NUMBER_LIKE = /^([-+]?\.?\d|-$|—$|$)/;

/** Fixed-width text table: words left-aligned, columns of numbers right-aligned. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const right = headers.map(
    (_, i) => i > 0 && rows.length > 0 && rows.every((r) => NUMBER_LIKE.test(String(r[i] ?? ''))),
  );
  return cells
    .map((row) =>
      row
        .map((cell, i) => (right[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * The decision table of `score` and `inspect`, worst first as given; an unreadable file's row has
 * no decision or score. The heatmap column only where some row has a heatmap.
 */
export function resultTable(
  results: {
    decision: string | null;
    score: number | null;
    path: string;
    heatmapPath?: string | null;
  }[],
): string {
  const withHeatmaps = results.some((r) => r.heatmapPath);
  return table(
    ['decision', 'score', 'image', ...(withHeatmaps ? ['heatmap'] : [])],
    results.map((r) => [
      r.decision ?? 'UNREADABLE',
      r.score?.toFixed(3) ?? '',
      r.path,
      ...(withHeatmaps ? [r.heatmapPath ?? ''] : []),
    ]),
  );
}
