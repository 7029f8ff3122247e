// Which images a training run uses, the same way from `defectscope train` and from the app: at most
// N per object type, and labeled images split into training and validation, both by a stable
// hash of the file, so the same dataset always gives the same runs and validation numbers.
import { createHash } from 'node:crypto';
import type { Label } from '../shared/dto.js';
import type { LabeledImage } from './heads/classifier.js';

export interface CandidateImage {
  path: string;
  objectType: string;
  label: Label | null;
}

/**
 * A stable number in [0, 1) per file. It hashes the object type and the path's last three parts
 * (split/label/file in MVTec layout), not the whole path, so a dataset moved to another folder or
 * machine splits the same way and its validation numbers stay comparable.
 */
export function imageHash(image: CandidateImage): number {
  const key = [image.objectType, ...image.path.split(/[\\/]/).slice(-3)].join('/');
  return createHash('sha1').update(key).digest().readUInt32BE(0) / 2 ** 32;
}

const byHash = (a: CandidateImage, b: CandidateImage) => imageHash(a) - imageHash(b);

/** At most `limit` images per object type, the same ones every time. */
export function limitPerType<T extends CandidateImage>(
  images: T[],
  limit: number | undefined,
): T[] {
  if (limit === undefined) return images;
  const byType = new Map<string, T[]>();
  for (const image of images) {
    const group = byType.get(image.objectType) ?? [];
    group.push(image);
    byType.set(image.objectType, group);
  }
  return [...byType.values()].flatMap((group) => group.sort(byHash).slice(0, limit));
}

/** Per label, the lowest-hash share goes to validation: stratified and reproducible. */
export function splitLabeled(
  images: CandidateImage[],
  fraction: number,
): { train: LabeledImage[]; validation: LabeledImage[] } {
  const train: LabeledImage[] = [];
  const validation: LabeledImage[] = [];
  for (const label of ['good', 'defect'] as const) {
    const group = images.filter((i) => i.label === label).sort(byHash);
    const held = Math.round(group.length * fraction);
    group.forEach((image, i) =>
      (i < held ? validation : train).push({ path: image.path, defect: label === 'defect' }),
    );
  }
  return { train, validation };
}

/** The object types among `images`, sorted. */
export function typesOf(images: { objectType: string }[]): string[] {
  return [...new Set(images.map((i) => i.objectType))].sort();
}
