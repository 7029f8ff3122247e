// Which images a training run uses: the same from the CLI and the app, and the same wherever the
// dataset folder lives.
import { describe, expect, it } from 'vitest';
import {
  limitPerType,
  splitLabeled,
  typesOf,
  type CandidateImage,
} from '../../src-main/engine/training-images.js';

function dataset(root: string): CandidateImage[] {
  const images: CandidateImage[] = [];
  for (const objectType of ['wood', 'pill'])
    for (let i = 0; i < 40; i++) {
      const defect = i % 4 === 0;
      const kind = defect ? 'scratch' : 'good';
      images.push({
        path: `${root}/${objectType}/test/${kind}/${String(i).padStart(3, '0')}.png`,
        objectType,
        label: defect ? 'defect' : 'good',
      });
    }
  images.push({ path: `${root}/wood/train/unlabeled.png`, objectType: 'wood', label: null });
  return images;
}

describe('training images', () => {
  it('splits each label by the same share, and the same way after the dataset moves', () => {
    const here = splitLabeled(dataset('/data/a'), 0.25);
    expect(here.validation.filter((i) => i.defect)).toHaveLength(5); // 20 defects × 0.25
    expect(here.validation.filter((i) => !i.defect)).toHaveLength(15);
    expect(here.train).toHaveLength(60); // the unlabeled image is in neither
    const moved = splitLabeled(dataset('D:/factory/b'), 0.25);
    const tail = (p: string) => p.split(/[\\/]/).slice(-4).join('/');
    expect(moved.validation.map((i) => tail(i.path))).toEqual(
      here.validation.map((i) => tail(i.path)),
    );
  });

  it('keeps at most N images per type, the same ones every time', () => {
    const images = dataset('/data/a');
    const limited = limitPerType(images, 10);
    expect(typesOf(limited)).toEqual(['pill', 'wood']);
    expect(limited.filter((i) => i.objectType === 'wood')).toHaveLength(10);
    expect(
      limitPerType([...images].reverse(), 10)
        .map((i) => i.path)
        .sort(),
    ).toEqual(limited.map((i) => i.path).sort());
    expect(limitPerType(images, undefined)).toBe(images);
  });
});
