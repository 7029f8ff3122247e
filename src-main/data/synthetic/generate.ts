// Writes a synthetic dataset in MVTec AD layout: per object type, good training images, good and
// defective test images, and a ground-truth mask for every defective one.
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { BadArgumentError } from '../../shared/errors.js';
import {
  DEFAULT_SIZE,
  productTypeNamed,
  productTypes,
  renderSample,
  type Sample,
} from './sample.js';
import type { ProductKind } from './scene.js';

export const DEFAULT_SEED = 1;
export const DEFAULT_PER_TYPE = 40;

export interface SynthOptions {
  seed?: number;
  /** Good training images per object type; the test split gets about half as many of each. */
  perType?: number;
  size?: number;
  /** Object type names; all of them when omitted. */
  types?: string[];
}

export interface SynthTypeSummary {
  name: string;
  kind: ProductKind;
  counts: { trainGood: number; testGood: number; testDefect: number };
  defectKinds: string[];
}

export interface SynthSummary {
  root: string;
  seed: number;
  size: number;
  perType: number;
  types: SynthTypeSummary[];
}

export interface SynthProgress {
  /** Images written so far, of `total`, across all types. */
  done: number;
  total: number;
  objectType: string;
  /** Images of this object type written so far, of `typeTotal`. */
  typeDone: number;
  typeTotal: number;
}

/** How many images of each split an object type gets. */
export interface SplitPlan {
  trainGood: number;
  testGood: number;
  /** Defect images per kind, in the type's order of kinds. */
  testDefect: { kind: string; count: number }[];
}

export function planSplits(perType: number, defectKinds: readonly string[]): SplitPlan {
  const testGood = Math.max(1, Math.round(perType / 2));
  // About as many defect images as good test images, spread evenly; every kind gets at least one
  // so the layout always shows every kind.
  const defects = Math.max(defectKinds.length, Math.round(perType / 2));
  const testDefect = defectKinds.map((kind, k) => ({
    kind,
    count: Math.floor(defects / defectKinds.length) + (k < defects % defectKinds.length ? 1 : 0),
  }));
  return { trainGood: perType, testGood, testDefect };
}

// Sample indices live in separate ranges per split and kind, so asking for more images per type
// adds images without changing the ones a smaller run wrote.
const SPLIT_STRIDE = 1_000_000;

export function sampleIndex(
  split: 'train' | 'test-good' | 'test-defect',
  i: number,
  kindOrder = 0,
): number {
  if (split === 'train') return i;
  if (split === 'test-good') return SPLIT_STRIDE + i;
  return SPLIT_STRIDE * (2 + kindOrder) + i;
}

/** 000, 001, … as in MVTec AD; wider when a folder holds a thousand or more, so names still sort. */
function fileName(i: number, count: number): string {
  return String(i).padStart(Math.max(3, String(count - 1).length), '0');
}

async function ensureEmpty(folder: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (entries.length > 0) {
    throw new BadArgumentError(
      `${folder} already holds files; the generator never overwrites a dataset. ` +
        `Pick another output folder or delete that one.`,
    );
  }
}

export async function writeSampleImage(path: string, sample: Sample): Promise<void> {
  const raw = { width: sample.size, height: sample.size, channels: 3 as const };
  await sharp(sample.image, { raw }).png().toFile(path);
}

export async function writeMaskImage(path: string, sample: Sample): Promise<void> {
  if (!sample.mask) throw new Error(`${path}: sample has no defect, so no mask`);
  const raw = { width: sample.size, height: sample.size, channels: 1 as const };
  // MVTec masks are single-channel 8-bit; sharp would otherwise widen a raw channel to sRGB.
  await sharp(sample.mask, { raw }).toColourspace('b-w').png().toFile(path);
}

export async function generateDataset(
  out: string,
  options: SynthOptions = {},
  onProgress?: (progress: SynthProgress) => void,
): Promise<SynthSummary> {
  const seed = options.seed ?? DEFAULT_SEED;
  const perType = options.perType ?? DEFAULT_PER_TYPE;
  const size = options.size ?? DEFAULT_SIZE;
  if (!Number.isInteger(perType) || perType < 1) {
    throw new BadArgumentError('Images per type must be a whole number of at least 1.');
  }
  const types = (options.types ?? productTypes.map((t) => t.name)).map(productTypeNamed);
  for (const type of types) await ensureEmpty(join(out, type.name));

  const plans = types.map((type) => planSplits(perType, type.defectKinds));
  const total = plans.reduce(
    (sum, p) => sum + p.trainGood + p.testGood + p.testDefect.reduce((s, d) => s + d.count, 0),
    0,
  );
  let done = 0;
  let typeDone = 0;
  let typeTotal = 0;
  // Rendering is synchronous JavaScript; PNG encoding runs on sharp's threads. Keeping a few
  // writes in flight overlaps the two without holding many images in memory.
  const inFlight: Promise<void>[] = [];
  const write = async (job: Promise<void>, objectType: string) => {
    // Marked as handled now; the error still surfaces when the job is awaited below.
    job.catch(() => undefined);
    inFlight.push(job);
    if (inFlight.length >= 4) await inFlight.shift();
    done++;
    typeDone++;
    onProgress?.({ done, total, objectType, typeDone, typeTotal });
  };

  const summaries: SynthTypeSummary[] = [];
  for (const [t, type] of types.entries()) {
    const plan = plans[t]!;
    typeDone = 0;
    typeTotal = plan.trainGood + plan.testGood + plan.testDefect.reduce((s, d) => s + d.count, 0);
    const root = join(out, type.name);
    const trainFolder = join(root, 'train', 'good');
    const goodFolder = join(root, 'test', 'good');
    await mkdir(trainFolder, { recursive: true });
    await mkdir(goodFolder, { recursive: true });
    for (let i = 0; i < plan.trainGood; i++) {
      const sample = renderSample(type.name, seed, sampleIndex('train', i), { size });
      await write(
        writeSampleImage(join(trainFolder, `${fileName(i, plan.trainGood)}.png`), sample),
        type.name,
      );
    }
    for (let i = 0; i < plan.testGood; i++) {
      const sample = renderSample(type.name, seed, sampleIndex('test-good', i), { size });
      await write(
        writeSampleImage(join(goodFolder, `${fileName(i, plan.testGood)}.png`), sample),
        type.name,
      );
    }
    for (const [k, { kind, count }] of plan.testDefect.entries()) {
      const imageFolder = join(root, 'test', kind);
      const maskFolder = join(root, 'ground_truth', kind);
      await mkdir(imageFolder, { recursive: true });
      await mkdir(maskFolder, { recursive: true });
      for (let i = 0; i < count; i++) {
        const sample = renderSample(type.name, seed, sampleIndex('test-defect', i, k), {
          size,
          defect: kind,
        });
        const name = fileName(i, count);
        const both = Promise.all([
          writeSampleImage(join(imageFolder, `${name}.png`), sample),
          writeMaskImage(join(maskFolder, `${name}_mask.png`), sample),
        ]).then(() => undefined);
        await write(both, type.name);
      }
    }
    summaries.push({
      name: type.name,
      kind: type.kind,
      counts: {
        trainGood: plan.trainGood,
        testGood: plan.testGood,
        testDefect: plan.testDefect.reduce((s, d) => s + d.count, 0),
      },
      defectKinds: [...type.defectKinds],
    });
  }
  await Promise.all(inFlight);
  return { root: out, seed, size, perType, types: summaries };
}
