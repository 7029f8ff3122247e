// What a model's validation promises the inspector: the share of good parts it will flag, the
// share of defects it catches, and a plain warning when it cannot tell them apart at all. One
// reading for the Models view, `defectscope models` and the start of an inspection.
import {
  DEFAULT_INPUT_SIZE,
  type DefectHeadCheckDto,
  type DefectMemoryDto,
  type PlacesDto,
  type ViewsChoice,
} from './dto.js';

/**
 * Validation AUROC below which a model is said not to separate defects from good parts. At 0.9 a
 * threshold that flags 2 % of good parts typically still misses most defects; an inspector who
 * is not told would trust a model that passes almost everything.
 */
export const MIN_SEPARATING_AUROC = 0.9;

/**
 * A one-class model's defect head (defect-head.ts) is kept only if it tells the held-out images'
 * painted patches from their good ones at least this well (patch AUROC). Where a type's own good
 * images hold dark holes and edges like the painted defects (cast impellers: 0.939 against 0.996
 * for the others), the head learns little and its P(defect) would only add noise to the distances
 * (EVALUATION.md, Defect head; in an offline run casting's head, added anyway, cost 0.02–0.05).
 */
export const MIN_HEAD_AUROC = 0.95;
/**
 * Held-out images (one good image in ten) a defect head needs: fewer give no spread of scores to
 * weigh it by (DefectHead.scale), so it is left out; i.e. a type needs 30 good images for it.
 */
export const MIN_HEAD_IMAGES = 3;
/**
 * Fitted on fewer good images than this, a one-class bank may also learn each one's mirror
 * images and turns (PatchcoreConfig.augment), where validation says so: few shots do not show
 * every pose of a part. It is also where the defect head stops having enough images to check
 * itself on.
 */
export const FEW_SHOT_IMAGES = 10 * MIN_HEAD_IMAGES;

/**
 * How much a one-class model's held-out painted-defect AUROC must gain for it to score each image
 * also mirrored, flipped and half turned (PlacesDto.viewed), each way relative to each place where
 * its places are kept: four encoder passes an image instead of one. On the real dev types the
 * views gained 0.011–0.022 on poly, kolektor and casting where the real defects gained too, and
 * lost up to 0.001 on ELPV mono, where its real defects lost 0.007 (EVALUATION.md, Each image
 * scored in four views; Session 21).
 */
export const VIEWS_GAIN = 0.005;

/**
 * Whether a one-class model fitted on `goodImages` good images tries learning them mirrored and
 * turned too (PatchcoreConfig.augment), as a candidate beside each feature-map set
 * (chooseLayers): below FEW_SHOT_IMAGES, and not in tiles, which were not measured with it and
 * already multiply the fitting time.
 */
export function learnsViews(goodImages: number, tileScale: number | null): boolean {
  return goodImages < FEW_SHOT_IMAGES && tileScale === null;
}

/**
 * The share of good parts an inspector accepts being flagged, unless set per object type: the
 * threshold is the (1 − rate) quantile of held-out good images' scores. 2 % keeps review work
 * to one part in fifty while catching what the detector can separate at all.
 */
export const DEFAULT_FALSE_ALARM_RATE = 0.02;
/** The largest per-type rate: beyond it the threshold would sit inside the good parts' scores. */
export const MAX_FALSE_ALARM_RATE = 0.5;

/**
 * The false-alarm rate a type's next retrain uses unless told another: the rate its active
 * model's threshold was set for (recorded in the model's config), else the default.
 */
export function typeFalseAlarmRate(activeConfig: Record<string, unknown> | undefined): number {
  const rate = activeConfig?.falseAlarmRate;
  return typeof rate === 'number' ? rate : DEFAULT_FALSE_ALARM_RATE;
}

/**
 * The tile scale a type's next retrain uses unless told another (RetrainRequest.tileScale): its
 * active model's, else none (whole images).
 */
export function typeTileScale(activeConfig: Record<string, unknown> | undefined): number | null {
  const scale = activeConfig?.tileScale;
  return typeof scale === 'number' ? scale : null;
}

/**
 * Whether a type's next retrain adds the defect head unless told otherwise
 * (RetrainRequest.defectHead): on, unless its active model was retrained with it off.
 */
export function typeDefectHead(activeConfig: Record<string, unknown> | undefined): boolean {
  return activeConfig?.defectHead !== false;
}

/**
 * How a type's next retrain sets the views unless told otherwise (RetrainRequest.views): as its
 * active model was set by hand, else 'auto'.
 */
export function typeViews(activeConfig: Record<string, unknown> | undefined): ViewsChoice {
  const views = activeConfig?.views;
  return views === 'on' || views === 'off' ? views : 'auto';
}

/** A defect head's check in words: used, or left out and why. */
export function defectHeadLine(check: DefectHeadCheckDto): string {
  if (check.heldOutImages < MIN_HEAD_IMAGES)
    return `no defect head: it needs ${FEW_SHOT_IMAGES} good images to check itself on`;
  const measured = `held-out painted-defect AUROC ${check.heldOutAuroc?.toFixed(3) ?? '–'}`;
  return check.used
    ? `defect head used at weight ${check.weight?.toFixed(2) ?? '–'} (${measured})`
    : `no defect head: it could not tell painted defects from this type's good parts (${measured}; it needs ${MIN_HEAD_AUROC})`;
}

/**
 * Whether a one-class model keeps its places or views: either changes how it scores, and both
 * were kept on painted defects, so its held-out figures are remeasured as it now scores and it is
 * compared with the active model on its memory bank alone, as a defect head is.
 */
export function placesOrViewsKept(check: PlacesDto | null | undefined): boolean {
  return check?.used === true || check?.viewed === true;
}

/**
 * Whether a one-class model scores relative to each place, in words: "scores relative to each
 * place (painted-defect AUROC 0.908 against 0.843 as they are, on 46 held-out good images)";
 * `images` names what the check was measured on (zero-shot: the folder's reference images).
 */
export function placesLine(check: PlacesDto, images = 'held-out good images'): string {
  const measured = `painted-defect AUROC ${check.placedAuroc.toFixed(3)} against ${check.auroc.toFixed(3)} as they are, on ${check.heldOutImages} ${images}`;
  const places = check.used
    ? `scores relative to each place (${measured})`
    : `scores as they are, not relative to each place (${measured})`;
  return check.viewedAuroc === undefined ? places : `${viewsLine(check)}; ${places}`;
}

/**
 * Whether a one-class model also scores each image mirrored, flipped and half turned, in words:
 * "scores each image also mirrored and turned (painted-defect AUROC 0.972 with them against 0.961
 * without)"; "…, set by hand (…)" where the inspector set them (PlacesDto.viewsSet).
 */
function viewsLine(check: PlacesDto): string {
  const measured = `painted-defect AUROC ${check.viewedAuroc?.toFixed(3) ?? '–'} with them against ${check.viewsOff?.toFixed(3) ?? '–'} without`;
  const how = check.viewed
    ? 'scores each image also mirrored and turned'
    : 'scores each image as it is, not mirrored and turned';
  if (check.viewsSet) return `${how}, set by hand (${measured})`;
  return check.viewed
    ? `${how} (${measured})`
    : `${how} (${measured}; they must gain ${VIEWS_GAIN})`;
}

/**
 * What the type's defect labels (reviewed verdicts included) taught, in words: "learned 10 labeled
 * defects at weight 2 (cross-validated AUROC 0.978 against 0.850 without)", or why not.
 */
export function defectMemoryLine(check: DefectMemoryDto): string {
  const bank = check.candidates.find((c) => c.weight === 0);
  const without = bank?.validationAuroc ?? NaN;
  const defects = `${check.defectImages} labeled defect${check.defectImages === 1 ? '' : 's'}`;
  if (check.weight > 0) {
    const chosen = check.candidates.find(
      (c) => c.weight === check.weight && c.aboveGood === check.aboveGood,
    );
    const which = check.aboveGood ? ', their patches unlike any good part,' : '';
    return `learned ${defects}${which} at weight ${check.weight} (cross-validated AUROC ${chosen?.validationAuroc.toFixed(3) ?? '–'} against ${without.toFixed(3)} without)`;
  }
  const best = Math.max(...check.candidates.map((c) => c.validationAuroc));
  return best > without
    ? `${defects} not learned: the memory that cross-validated best (AUROC ${best.toFixed(3)} against ${without.toFixed(3)} without) would rank good parts above defects unlike them`
    : `${defects} not learned: the bank alone cross-validated as well (AUROC ${without.toFixed(3)})`;
}

/** Short sides a type can be scored at in tiles (the Models view's choices); null: whole images. */
export const TILE_SCALE_CHOICES = [null, 448, 672, 896] as const;

/** How a model sizes images, in the inspector's words: whole, or in tiles at a scale. */
export function scaleLabel(tileScale: number | null, inputSize = DEFAULT_INPUT_SIZE): string {
  return tileScale === null
    ? `whole image at ${inputSize} px`
    : `${inputSize} px tiles at ${tileScale} px`;
}

/**
 * Said with the expected catch rate of a model whose defect head learned from painted defects, or
 * whose places were kept for doing better on them.
 */
export const OPTIMISTIC =
  'Its defect head, places or views were learned or kept on painted defects like these, so the share caught is optimistic until reviewed defects replace them.';

export interface ModelExpectation {
  /** Share of good parts flagged at the threshold (held-out good images). */
  goodFlagged: number;
  /**
   * Where that share is likely to fall on the line (shareRange), from how many held-out good
   * images it was measured on; null where the model does not record how many.
   */
  goodFlaggedRange: { low: number; high: number; images: number } | null;
  /** Share of defects caught at the threshold. */
  defectsCaught: number;
  /**
   * Where that share is likely to fall on the line, from how many labeled defects it was measured
   * on (shareRange); null for painted defects, three copies of each held-out image
   * and no sample of the line's defects.
   */
  defectsCaughtRange: { low: number; high: number; images: number } | null;
  /** Where the defects came from: labeled or reviewed ones, or synthetic ones painted into good images. */
  defectsFrom: 'labels' | 'synthetic';
  auroc: number;
  /** Set when the validation says the model cannot separate defects from good parts. */
  warning: string | null;
  /**
   * The defect head learned from painted defects like those it caught, or the places were kept
   * for them: the share caught is optimistic (the AUROC above is the memory bank's alone).
   */
  optimistic: boolean;
}

/** A batch a model flagged this much of (DEFECT), from this many scored images, is questioned. */
export const MOSTLY_FLAGGED = { share: 0.9, images: 10 } as const;

/**
 * What to tell the inspector when a model flagged nearly every image of a batch: a whole lot of
 * defects is rare, while images of another type, a camera moved or relit, or a changed product
 * all look like that to a model set to flag 2 % of good parts. Null otherwise. Zero-shot judges
 * a folder against itself and is not asked.
 */
export function mostlyFlaggedWarning(batch: {
  scored: number;
  flagged: number;
  objectType: string;
  /** The model that scored; null for zero-shot. */
  modelId: number | null;
}): string | null {
  const { scored, flagged, objectType } = batch;
  if (batch.modelId === null) return null;
  if (scored < MOSTLY_FLAGGED.images || flagged < MOSTLY_FLAGGED.share * scored) return null;
  return (
    `The model flagged ${flagged} of ${scored} images as defects. A whole batch of defects is rare: ` +
    `check that these are ${objectType} parts, and that the camera's view and lighting are those its good images were taken with. ` +
    `If the product or the camera changed on purpose, review some of these as good and retrain ${objectType}.`
  );
}

/** 0.0213 → "2.1 %". */
export function formatPercent(share: number): string {
  return `${(100 * share).toFixed(1)} %`;
}

/**
 * The range (95 %, Wilson's score interval) a share measured as `count` of `images` is likely to
 * fall in on the line: one of 46 held-out good images flagged (2.2 %) could be anything from
 * 0.4 % to 11.3 %. Kolektor's threshold, set on 46 of its good commutators, flagged 3.9 % and
 * 5.8 % of its test ones at eval's two seeds: inside that range, above the 2.2 % alone.
 */
export function shareRange(count: number, images: number): { low: number; high: number } {
  const z = 1.96;
  const z2 = z * z;
  const p = count / images;
  const centre = (p + z2 / (2 * images)) / (1 + z2 / images);
  const half =
    (z / (1 + z2 / images)) * Math.sqrt((p * (1 - p)) / images + z2 / (4 * images * images));
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

/** "0.4–11.3 %" */
export function rangeLabel({ low, high }: { low: number; high: number }): string {
  return `${(100 * low).toFixed(1)}–${formatPercent(high)}`;
}

/** The expectation a retrained model's recorded validation metrics give; null for other models. */
export function modelExpectation(
  metrics: Record<string, unknown> | null | undefined,
): ModelExpectation | null {
  const {
    falseAlarmRate,
    recall,
    imageAuroc: headed,
    bankAuroc,
    placesAuroc,
    defects,
    goodImages,
    defectImages,
  } = metrics ?? {};
  // With a defect head or places judged on painted defects, the bank's own figure is the fair
  // one: with its places' split-half check where it kept them (ValidationMetrics).
  const imageAuroc =
    typeof placesAuroc === 'number'
      ? placesAuroc
      : typeof bankAuroc === 'number'
        ? bankAuroc
        : headed;
  if (
    typeof falseAlarmRate !== 'number' ||
    typeof recall !== 'number' ||
    typeof imageAuroc !== 'number' ||
    (defects !== 'labels' && defects !== 'synthetic')
  )
    return null;
  const which =
    defects === 'labels' ? 'its labeled defects' : 'synthetic defects painted into its good images';
  const rangeOf = (share: number, images: unknown) =>
    typeof images === 'number' && images > 0
      ? { ...shareRange(Math.round(share * images), images), images }
      : null;
  return {
    goodFlagged: falseAlarmRate,
    goodFlaggedRange: rangeOf(falseAlarmRate, goodImages),
    defectsCaught: recall,
    defectsCaughtRange: defects === 'labels' ? rangeOf(recall, defectImages) : null,
    defectsFrom: defects,
    auroc: imageAuroc,
    optimistic: typeof bankAuroc === 'number',
    warning:
      imageAuroc < MIN_SEPARATING_AUROC
        ? `This model cannot reliably tell defects from good parts: on ${which} its validation AUROC is ` +
          `${imageAuroc.toFixed(3)} (below ${MIN_SEPARATING_AUROC}), and it caught ${formatPercent(recall)} of them. ` +
          'Review its OK results too, add reviewed defects and retrain, or try the Fine detail or a region of interest.'
        : null,
  };
}

/**
 * A model's validation AUROC as the product stands by it, for its row in `models list` and the
 * Models view: the figure its expectation and warning are read from (the memory bank's own, or
 * its places' out-of-fold check, where a defect head, places or views were kept on the painted
 * defects it is measured on), else the one it recorded. The rows showed the model's own figure on
 * those painted defects (a real poly model: 0.982) beside an expectation of 0.972.
 */
export function modelAuroc(metrics: Record<string, unknown> | null | undefined): number | null {
  const recorded = [metrics?.imageAuroc, metrics?.image_auroc, metrics?.auroc].find(
    (value): value is number => typeof value === 'number',
  );
  return modelExpectation(metrics)?.auroc ?? recorded ?? null;
}

/** One line for the inspector: what the model flags and catches. */
export function expectationLine(e: ModelExpectation): string {
  const of = e.defectsFrom === 'labels' ? 'labeled defects' : 'synthetic defects';
  const range = e.goodFlaggedRange
    ? ` (likely ${rangeLabel(e.goodFlaggedRange)} on the line: set on ${e.goodFlaggedRange.images} held-out good images)`
    : '';
  const caughtRange = e.defectsCaughtRange
    ? ` (likely ${rangeLabel(e.defectsCaughtRange)}: ${e.defectsCaughtRange.images} of them)`
    : '';
  return `Expected: flags ${formatPercent(e.goodFlagged)} of good parts${range}, catches ${formatPercent(e.defectsCaught)} of ${of}${caughtRange} (validation AUROC ${e.auroc.toFixed(3)}).${e.optimistic ? ` ${OPTIMISTIC}` : ''}`;
}

/** Short for the views (PatchcoreConfig.augment), in lists. */
export const VIEWS_LABEL = 'mirrored/turned';

/** Said of a model fitted with PatchcoreConfig.augment. */
export const AUGMENTED = `fewer than ${FEW_SHOT_IMAGES} good images, so each was also learned mirrored and turned`;

/** "stride4,stride8" → "stride 4 + 8"; "stride8,stride16mid" → "stride 8 + 16 (middle block)". */
export function layersLabel(layers: readonly string[]): string {
  const label = (l: string) =>
    l === 'stride16mid' ? '16 (middle block)' : l.replace('stride', '');
  return `stride ${layers.map(label).join(' + ')}`;
}

/** "stride 4 + 8", or "stride 4 + 8 + mirrored/turned" for a candidate that learned the views. */
export function candidateLabel(c: { layers: readonly string[]; augmented?: boolean }): string {
  return `${layersLabel(c.layers)}${c.augmented ? ` + ${VIEWS_LABEL}` : ''}`;
}

/**
 * A one-class model's feature maps as its config records them: "stride 4 + 8, chosen by
 * validation (stride 4 + 8 0.912, stride 8 + 16 0.880)", "stride 4 + 8, as set", or null for
 * models that recorded none (other kinds, and models retrained before the choice).
 */
export function featuresLine(config: Record<string, unknown> | null | undefined): string | null {
  const layers = config?.layers;
  if (!Array.isArray(layers)) return null;
  const choice = config?.layerChoice as
    | { candidates?: { layers: string[]; augmented?: boolean; validationAuroc: number }[] }
    | undefined;
  const candidates = choice?.candidates ?? [];
  const check = config?.defectHead as DefectHeadCheckDto | null | undefined;
  const memory = config?.defectMemory as DefectMemoryDto | null | undefined;
  const places = config?.places as PlacesDto | null | undefined;
  const head =
    (check ? `; ${defectHeadLine(check)}` : '') +
    (memory ? `; ${defectMemoryLine(memory)}` : '') +
    (places ? `; ${placesLine(places)}` : '') +
    (config?.augmented === true ? `; ${AUGMENTED}` : '');
  if (candidates.length < 2) return `${layersLabel(layers as string[])}, as set${head}`;
  const measured = candidates.map((c) => `${candidateLabel(c)} ${c.validationAuroc.toFixed(3)}`);
  // A few held-out images often validate every candidate at 1.000: say so rather than let the
  // figures suggest a choice that the validation could not make.
  const best = Math.max(...candidates.map((c) => c.validationAuroc)).toFixed(3);
  const tied = candidates.filter((c) => c.validationAuroc.toFixed(3) === best).length;
  const tie = tied > 1 ? `; the best ${tied} tie, so validation could not tell them apart` : '';
  return `${layersLabel(layers as string[])}, chosen by validation AUROC (${measured.join(', ')})${tie}${head}`;
}
