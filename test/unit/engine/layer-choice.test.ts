// The one-class feature choice: every candidate is judged, the best is kept (the first on a tie),
// each loser is freed, and with few good images the views are candidates of their own.
import { describe, expect, it } from 'vitest';
import { LAYER_CANDIDATES } from '../../../src-main/shared/dto.js';
import type { Detector } from '../../../src-main/engine/detectors/detector.js';
import {
  chooseLayers,
  layerChoiceLine,
  type FeatureCandidate,
} from '../../../src-main/engine/layer-choice.js';

/** A judge that gives each candidate the AUROC `aurocOf` says and records what it freed. */
function judge(aurocOf: (c: FeatureCandidate) => number) {
  const freed: string[] = [];
  const tried: FeatureCandidate[] = [];
  const fitAndJudge = (candidate: FeatureCandidate) => {
    tried.push(candidate);
    const name = `${candidate.layers.join('+')}${candidate.augmented ? ' views' : ''}`;
    const detector = { dispose: () => freed.push(name) } as unknown as Detector;
    return Promise.resolve({ detector, auroc: aurocOf(candidate), name });
  };
  return { fitAndJudge, freed, tried };
}

describe('chooseLayers', () => {
  it('judges each feature set once when the views are not a candidate, and frees the loser', async () => {
    const { fitAndJudge, freed, tried } = judge((c) => (c.layers[0] === 'stride8' ? 0.9 : 0.8));
    const result = await chooseLayers(undefined, false, fitAndJudge);
    expect(tried).toEqual(LAYER_CANDIDATES.map((layers) => ({ layers, augmented: false })));
    expect(result).toMatchObject({ layers: ['stride8', 'stride16'], augmented: false });
    expect(result.chosen.name).toBe('stride8+stride16');
    expect(freed).toEqual(['stride4+stride8']);
    // Saved models written before the views were candidates keep the same shape.
    expect(result.choice).toEqual({
      layers: ['stride8', 'stride16'],
      candidates: [
        { layers: ['stride4', 'stride8'], validationAuroc: 0.8 },
        { layers: ['stride8', 'stride16'], validationAuroc: 0.9 },
      ],
    });
  });

  it('tries each feature set with and without the views, and keeps the better', async () => {
    const { fitAndJudge, freed, tried } = judge(
      (c) => (c.layers[0] === 'stride4' ? 0.85 : 0.8) + (c.augmented ? 0.1 : 0),
    );
    const result = await chooseLayers(undefined, true, fitAndJudge);
    expect(tried.map((c) => c.augmented)).toEqual([true, false, true, false]);
    expect(result).toMatchObject({ layers: ['stride4', 'stride8'], augmented: true });
    expect(result.choice).toMatchObject({ layers: ['stride4', 'stride8'], augmented: true });
    expect(result.choice!.candidates.map((c) => c.augmented)).toEqual([true, false, true, false]);
    expect(freed.sort()).toEqual(['stride4+stride8', 'stride8+stride16', 'stride8+stride16 views']);
    expect(layerChoiceLine(result.choice!)).toBe(
      'feature maps by validation AUROC stride 4 + 8 + mirrored/turned 0.950, stride 4 + 8 0.850, ' +
        'stride 8 + 16 + mirrored/turned 0.900, stride 8 + 16 0.800; kept stride 4 + 8 + mirrored/turned',
    );

    // A tie keeps the views: with few held-out images every candidate can validate at 1.000,
    // and the views are what measured better on real few-shot types.
    const tie = judge(() => 0.9);
    expect(await chooseLayers(['stride8', 'stride16'], true, tie.fitAndJudge)).toMatchObject({
      layers: ['stride8', 'stride16'],
      augmented: true,
      choice: { augmented: true },
    });
    expect(tie.freed).toEqual(['stride8+stride16']);

    // Worse views are not kept.
    const worse = judge((c) => (c.augmented ? 0.8 : 0.9));
    expect(await chooseLayers(['stride8', 'stride16'], true, worse.fitAndJudge)).toMatchObject({
      augmented: false,
      choice: { augmented: false },
    });
  });

  it('judges nothing when there is one candidate, and frees the best if a later fit throws', async () => {
    const single = judge(() => -Infinity);
    const told = await chooseLayers(['stride4', 'stride8'], false, single.fitAndJudge);
    expect(told).toMatchObject({ layers: ['stride4', 'stride8'], augmented: false, choice: null });

    const freed: string[] = [];
    let calls = 0;
    await expect(
      chooseLayers(undefined, false, () => {
        if (calls++ > 0) return Promise.reject(new Error('decoding failed'));
        const detector = { dispose: () => freed.push('first') } as unknown as Detector;
        return Promise.resolve({ detector, auroc: 0.9 });
      }),
    ).rejects.toThrow('decoding failed');
    expect(freed).toEqual(['first']);
  });
});
