// The one-class feature-map choice that retrain and eval share, so that eval measures what the
// app ships: told which feature maps, those; otherwise each of LAYER_CANDIDATES is fitted and
// judged on the same validation images, the best is kept (the first on a tie) and the others are
// freed as soon as they lose.
import { LAYER_CANDIDATES, type FeatureName, type LayerChoiceDto } from '../shared/dto.js';
import { layersLabel } from '../shared/model-quality.js';
import type { Detector } from './detectors/detector.js';
import { imageMetrics } from './metrics.js';

/** How well validation scores separate good images from defects (image AUROC). */
export function validationAuroc(good: readonly number[], defect: readonly number[]): number {
  return imageMetrics([...good, ...defect], [...good.map(() => 0), ...defect.map(() => 1)])
    .imageAuroc;
}

/** "stride 4 + 8 0.904, stride 8 + 16 0.884; kept stride 4 + 8", for logs (as the Models view). */
export function layerChoiceLine(choice: LayerChoiceDto): string {
  const measured = choice.candidates.map(
    (c) => `${layersLabel(c.layers)} ${c.validationAuroc.toFixed(3)}`,
  );
  return `feature maps by validation AUROC ${measured.join(', ')}; kept ${layersLabel(choice.layers)}`;
}

/**
 * Fits and judges each candidate through `fitAndJudge` (given its place among them, so a single
 * told set need not be judged) and returns the winner with the choice; `choice` is null when
 * the feature maps were told. `fitAndJudge` frees its detector if it throws.
 */
export async function chooseLayers<T extends { detector: Detector; auroc: number }>(
  told: FeatureName[] | undefined,
  fitAndJudge: (layers: FeatureName[], step: { index: number; count: number }) => Promise<T>,
): Promise<{ chosen: T; layers: FeatureName[]; choice: LayerChoiceDto | null }> {
  const layerSets = told ? [told] : LAYER_CANDIDATES.map((layers) => [...layers]);
  const candidates: LayerChoiceDto['candidates'] = [];
  let best: { fitted: T; layers: FeatureName[] } | undefined;
  try {
    for (const [index, layers] of layerSets.entries()) {
      const fitted = await fitAndJudge(layers, { index, count: layerSets.length });
      candidates.push({ layers, validationAuroc: fitted.auroc });
      if (!best || fitted.auroc > best.fitted.auroc) {
        best?.fitted.detector.dispose();
        best = { fitted, layers };
      } else {
        fitted.detector.dispose();
      }
    }
  } catch (error) {
    best?.fitted.detector.dispose();
    throw error;
  }
  if (!best) throw new Error('no feature maps to fit');
  const { fitted, layers } = best;
  return { chosen: fitted, layers, choice: told ? null : { layers, candidates } };
}
