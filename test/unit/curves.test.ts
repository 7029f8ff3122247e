// The model page's numbers: ROC, precision-recall, histogram and confusion at a dragged threshold.
import { describe, expect, it } from 'vitest';
import { confusionAt, histogram, prPoints, rocPoints } from '../../src-renderer/lib/curves.js';

const data = {
  scores: [0.9, 0.8, 0.6, 0.55, 0.4, 0.3, 0.2, 0.1],
  labels: [1, 1, 0, 1, 0, 0, 1, 0] as (0 | 1)[],
};

describe('model curves', () => {
  it('draws the ROC from (0,0) to (1,1), rising with each defect found', () => {
    const roc = rocPoints(data);
    expect(roc[0]).toEqual({ x: 0, y: 0 });
    expect(roc.at(-1)).toEqual({ x: 1, y: 1 });
    expect(roc[2]).toEqual({ x: 0, y: 0.5 }); // the two top scores are defects
    for (let i = 1; i < roc.length; i++) {
      expect(roc[i]!.x).toBeGreaterThanOrEqual(roc[i - 1]!.x);
      expect(roc[i]!.y).toBeGreaterThanOrEqual(roc[i - 1]!.y);
    }
  });

  it('gives precision 1 while only defects are above the threshold', () => {
    const pr = prPoints(data);
    expect(pr[0]).toEqual({ x: 0.25, y: 1 });
    expect(pr[1]).toEqual({ x: 0.5, y: 1 });
    expect(pr.at(-1)).toEqual({ x: 1, y: 0.5 });
  });

  it('counts what a dragged threshold flags and misses', () => {
    expect(confusionAt(data, 0.5)).toEqual({
      tp: 3,
      fp: 1,
      tn: 3,
      fn: 1,
      precision: 0.75,
      recall: 0.75,
    });
    expect(confusionAt(data, 0.85)).toMatchObject({ tp: 1, fp: 0, precision: 1, recall: 0.25 });
  });

  it('puts every score in one histogram bin of its class', () => {
    const bins = histogram({ scores: [0, 0.49, 0.5, 1, 1.7], labels: [0, 0, 1, 1, 1] }, 10);
    expect(bins.good[0]).toBe(1);
    expect(bins.good[4]).toBe(1);
    expect(bins.defect[5]).toBe(1);
    expect(bins.defect[9]).toBe(2); // 1 and scores above 1 land in the last bin
  });

  it('draws no ROC when only one class was seen', () => {
    expect(rocPoints({ scores: [0.2, 0.9], labels: [1, 1] })).toEqual([]);
  });
});
