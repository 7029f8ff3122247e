import { describe, expect, it } from 'vitest';
import {
  PixelAuroc,
  atThreshold,
  auroc,
  averagePrecision,
  f1Max,
  imageMetrics,
  recallAtFalseAlarmRate,
  rocCurve,
} from '../../src-main/engine/metrics.js';
import {
  calibrate,
  calibrateUnlabeled,
  checkFalseAlarmRate,
  decide,
  normalise,
  quantile,
} from '../../src-main/engine/threshold.js';
import { BadArgumentError } from '../../src-main/shared/errors.js';
import {
  DEFAULT_FALSE_ALARM_RATE,
  MIN_SEPARATING_AUROC,
  OPTIMISTIC,
  expectationLine,
  defectMemoryLine,
  featuresLine,
  shareRange,
  modelAuroc,
  modelExpectation,
  mostlyFlaggedWarning,
  MOSTLY_FLAGGED,
  placesLine,
  VIEWS_GAIN,
} from '../../src-main/shared/model-quality.js';

describe('metrics', () => {
  it('AUROC: perfect, inverted, and a hand-counted mixed case', () => {
    expect(auroc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(auroc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])).toBe(0);
    // Pairs (defect, good): (0.7,0.1)✓ (0.7,0.8)✗ (0.3,0.1)✓ (0.3,0.8)✗ → 2/4
    expect(auroc([0.1, 0.8, 0.7, 0.3], [0, 0, 1, 1])).toBe(0.5);
  });

  it('AUROC counts ties between a good and a defective image as half', () => {
    expect(auroc([0.5, 0.5], [0, 1])).toBe(0.5);
    // defect 0.5 vs goods {0.5, 0.2}: ½ + 1; defect 0.9: 1 + 1 → 3.5 / 4
    expect(auroc([0.5, 0.2, 0.5, 0.9], [0, 0, 1, 1])).toBe(0.875);
  });

  it('average precision and F1-max match hand computation', () => {
    const scores = [0.9, 0.8, 0.7, 0.6];
    const labels = [1, 0, 1, 0];
    // PR points: (P=1,R=.5) (P=.5,R=.5) (P=2/3,R=1) (P=.5,R=1) → AP = .5·1 + .5·(2/3)
    expect(averagePrecision(scores, labels)).toBeCloseTo(0.5 + 1 / 3, 12);
    // F1 at 0.9: 2·1·.5/1.5 = 2/3; at 0.7: 2·(2/3)·1/(5/3) = 0.8
    expect(f1Max(scores, labels)).toEqual({ f1: 0.8, threshold: 0.7 });
  });

  it('counts the confusion matrix and rates at a threshold (score ≥ threshold is flagged)', () => {
    const m = atThreshold([0.1, 0.4, 0.6, 0.9, 0.5], [0, 1, 0, 1, 1], 0.5);
    expect(m).toMatchObject({ tp: 2, fn: 1, fp: 1, tn: 1 });
    expect(m.precision).toBeCloseTo(2 / 3);
    expect(m.recall).toBeCloseTo(2 / 3);
    expect(m.accuracy).toBeCloseTo(3 / 5);
    expect(m.balancedAccuracy).toBeCloseTo((2 / 3 + 1 / 2) / 2);
    expect(m.falseAlarmRate).toBeCloseTo(1 / 2);
  });

  it('reads the defects caught at a stated false-alarm rate off the ROC curve', () => {
    // 20 good images scored 0..19, 10 defects: 5 above every good one, 5 among the top goods.
    const scores = [
      ...Array.from({ length: 20 }, (_, i) => i),
      30,
      31,
      32,
      33,
      34,
      18.5,
      17.5,
      16.5,
      15.5,
      0.5,
    ];
    const labels = [...Array.from({ length: 20 }, () => 0), ...Array.from({ length: 10 }, () => 1)];
    // No good image flagged: only the five clear defects.
    expect(recallAtFalseAlarmRate(scores, labels, 0)).toBe(0.5);
    expect(recallAtFalseAlarmRate(scores, labels, 0.01)).toBe(0.5);
    // One good image of 20 (5 %) flagged: the cut drops below 19 and takes 18.5 too.
    expect(recallAtFalseAlarmRate(scores, labels, 0.05)).toBe(0.6);
    // Four goods (20 %): 18.5, 17.5, 16.5 and 15.5 are caught; 0.5 never is before 95 %.
    expect(recallAtFalseAlarmRate(scores, labels, 0.2)).toBe(0.9);
    expect(recallAtFalseAlarmRate(scores, labels, 1)).toBe(1);
    expect(() => recallAtFalseAlarmRate(scores, labels, 1.5)).toThrow(BadArgumentError);
  });

  it('refuses all-one-class input with a message that says what to add', () => {
    for (const fn of [auroc, averagePrecision, f1Max, imageMetrics, rocCurve]) {
      expect(() => fn([0.1, 0.2], [0, 0])).toThrow(BadArgumentError);
      expect(() => fn([0.1, 0.2], [1, 1])).toThrow(/need both good and defective images/);
    }
    expect(() => auroc([0.1], [0, 1])).toThrow(/1 scores but 2 labels/);
    expect(() => auroc([NaN, 1], [0, 1])).toThrow(/finite/);
  });

  it('ROC curve runs from (0,0) to (1,1)', () => {
    const curve = rocCurve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]);
    expect(curve[0]).toMatchObject({ fpr: 0, tpr: 0 });
    expect(curve.at(-1)).toMatchObject({ fpr: 1, tpr: 1 });
  });

  it('pixel AUROC from histograms agrees with the exact AUROC', () => {
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const scores = Array.from({ length: 5000 }, random);
    const mask = scores.map((s) => (random() < s * 0.6 ? 1 : 0));
    const pixel = new PixelAuroc(0, 1);
    pixel.add(scores.slice(0, 2500), mask.slice(0, 2500));
    pixel.add(scores.slice(2500), mask.slice(2500));
    expect(pixel.value()).toBeCloseTo(auroc(scores, mask), 3);
    expect(() => new PixelAuroc(0, 1).value()).toThrow(/both defect and good pixels/);
  });
});

describe('thresholds and normalisation', () => {
  it('with labeled defects, picks the F1-maximising threshold, and it maps to 0.5', () => {
    const scores = [1, 2, 3, 4, 10, 11, 12];
    const labels = [0, 0, 0, 0, 1, 1, 1];
    const c = calibrate(scores, labels);
    expect(c.method).toBe('f1-max');
    expect(c.threshold).toBe(7); // midway between the top good (4) and the lowest defect (10)
    expect(normalise(7, c)).toBe(0.5);
    expect(atThreshold(scores, labels, c.threshold).f1).toBe(1);
  });

  it('with good images only, uses a high percentile of their scores', () => {
    const good = Array.from({ length: 101 }, (_, i) => i);
    const c = calibrate(good, undefined, { percentile: 0.95 });
    expect(c).toMatchObject({ method: 'good-percentile', threshold: 95, percentile: 0.95 });
    expect(normalise(95, c)).toBe(0.5);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
  });

  it('normalises monotonically into 0..1', () => {
    const c = calibrate([1, 2, 3, 4, 10, 11, 12], [0, 0, 0, 0, 1, 1, 1]);
    const raw = [-100, 0, 2, 5, 7, 8, 11, 1000];
    const normalised = raw.map((r) => normalise(r, c));
    expect(normalised[0]).toBe(0);
    expect(normalised.at(-1)).toBe(1);
    for (let i = 1; i < normalised.length; i++)
      expect(normalised[i]!).toBeGreaterThanOrEqual(normalised[i - 1]!);
  });

  it('sends scores inside the unsure band to review', () => {
    expect(decide(0.2, 0.05)).toBe('OK');
    expect(decide(0.47, 0.05)).toBe('UNSURE');
    expect(decide(0.5, 0.05)).toBe('UNSURE');
    expect(decide(0.56, 0.05)).toBe('DEFECT');
    expect(decide(0.5, 0)).toBe('DEFECT');
    expect(decide(0.4999, 0)).toBe('OK');
    expect(() => calibrate([1], undefined, { unsureBand: 0.7 })).toThrow(/unsure band/);
  });
});

describe('unlabeled calibration', () => {
  it('puts the threshold above the normal mass and below the outliers of a folder', () => {
    const scores = [1.0, 1.1, 0.9, 1.05, 0.95, 1.02, 0.98, 5, 6];
    const c = calibrateUnlabeled(scores);
    expect(c.method).toBe('robust-outlier');
    expect(c.threshold).toBeGreaterThan(1.1);
    expect(c.threshold).toBeLessThan(5);
    expect(normalise(c.threshold, c)).toBe(0.5);
    expect(() => calibrateUnlabeled([1])).toThrow(/at least 2/);
  });

  // Deterministic normal samples (Box–Muller on a fixed LCG).
  const normals = (count: number, mean: number, sd: number, seed: number): number[] => {
    let state = seed;
    const uniform = (): number => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return (state + 1) / (2 ** 31 + 1);
    };
    return Array.from(
      { length: count },
      () => mean + sd * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()),
    );
  };

  it('moves the threshold down to a cluster of defects when a folder holds many', () => {
    const good = normals(30, 1, 0.05, 1);
    const defects = normals(25, 1.6, 0.15, 2);
    const c = calibrateUnlabeled([...good, ...defects]);
    expect(c.method).toBe('mixture');
    // Between the clusters: every good image below, nearly every defect above.
    expect(c.threshold).toBeGreaterThan(Math.max(...good));
    expect(defects.filter((d) => d >= c.threshold).length).toBeGreaterThanOrEqual(23);
    expect(normalise(c.threshold, c)).toBe(0.5);
  });

  it('finds the cluster of defects among scores relative to each place, some below zero', () => {
    // A zero-shot folder scored relative to each place: good images about 1 ± 0.6, so some
    // below zero, where logs cannot be taken; the defects a cluster of their own.
    const good = normals(40, 1, 0.6, 7);
    const defects = normals(30, 4, 0.8, 8);
    expect(Math.min(...good)).toBeLessThan(0);
    const c = calibrateUnlabeled([...good, ...defects], { logScale: false });
    expect(c.method).toBe('mixture');
    // Below zero, they cannot be fitted as logs, whatever the caller says.
    expect(calibrateUnlabeled([...good, ...defects]).threshold).toBe(c.threshold);
    expect(good.filter((g) => g >= c.threshold).length).toBeLessThanOrEqual(2);
    expect(defects.filter((d) => d >= c.threshold).length).toBeGreaterThanOrEqual(27);
  });

  it('keeps the lower-tail bound for a folder of good images only', () => {
    for (const seed of [3, 4, 5, 6]) {
      const c = calibrateUnlabeled(normals(40, 1, 0.1, seed));
      expect(c.method).toBe('robust-outlier');
      // Also as relative scores about zero (fitted as they are, not as logs).
      expect(calibrateUnlabeled(normals(40, 0, 1, seed), { logScale: false }).method).toBe(
        'robust-outlier',
      );
    }
  });
});

describe('what a model promises the inspector', () => {
  it("names the chosen feature maps with every candidate's validation, and says when the best tie", () => {
    const config = (aurocs: number[]) => ({
      layers: ['stride8', 'stride16'],
      layerChoice: {
        candidates: aurocs.map((validationAuroc, i) => ({
          layers: i < 2 ? ['stride8', 'stride16'] : ['stride4', 'stride8'],
          augmented: i % 2 === 0,
          validationAuroc,
        })),
      },
    });
    expect(featuresLine(config([0.93, 0.91]))).toBe(
      'stride 8 + 16, chosen by validation AUROC (stride 8 + 16 + mirrored/turned 0.930, stride 8 + 16 0.910)',
    );
    expect(featuresLine(config([1, 0.9996, 0.98, 1]))).toBe(
      'stride 8 + 16, chosen by validation AUROC (stride 8 + 16 + mirrored/turned 1.000, stride 8 + 16 1.000, ' +
        'stride 4 + 8 + mirrored/turned 0.980, stride 4 + 8 1.000); the best 3 tie, so validation could not tell them apart',
    );
    expect(featuresLine({ layers: ['stride4', 'stride8'] })).toBe('stride 4 + 8, as set');
    expect(featuresLine({})).toBeNull();
  });

  it('says whether a model scores relative to each place, with the check that decided it', () => {
    const check = (used: boolean) => ({
      heldOutImages: 46,
      auroc: 0.843,
      placedAuroc: 0.908,
      used,
    });
    expect(featuresLine({ layers: ['stride8', 'stride16'], places: check(true) })).toBe(
      'stride 8 + 16, as set; scores relative to each place (painted-defect AUROC 0.908 against 0.843 as they are, on 46 held-out good images)',
    );
    expect(placesLine({ ...check(false), placedAuroc: 0.82 })).toBe(
      'scores as they are, not relative to each place (painted-defect AUROC 0.820 against 0.843 as they are, on 46 held-out good images)',
    );
  });

  it('says whether a model scores each image in four views, before its places', () => {
    const check = (viewed: boolean) => ({
      heldOutImages: 117,
      auroc: 0.961,
      placedAuroc: 0.977,
      used: true,
      viewedAuroc: viewed ? 0.972 : 0.962,
      viewsOff: 0.961,
      viewed,
    });
    expect(placesLine(check(true))).toBe(
      'scores each image also mirrored and turned (painted-defect AUROC 0.972 with them against 0.961 without); scores relative to each place (painted-defect AUROC 0.977 against 0.961 as they are, on 117 held-out good images)',
    );
    expect(placesLine(check(false))).toMatch(
      new RegExp(
        `^scores each image as it is, not mirrored and turned \\(painted-defect AUROC 0.962 with them against 0.961 without; they must gain ${VIEWS_GAIN}\\); scores relative`,
      ),
    );
  });

  it('says what the defect labels taught: the memory kept and its cross-validation, or why none', () => {
    const memory = (weight: number, aboveGood: boolean) => ({
      defectImages: 10,
      goodImages: 40,
      weight,
      aboveGood,
      candidates: [
        { weight: 0, aboveGood: false, validationAuroc: 0.85, unlearnedAuroc: 0.85 },
        { weight: 4, aboveGood: false, validationAuroc: 0.978, unlearnedAuroc: 0.84 },
        { weight: 1, aboveGood: true, validationAuroc: 0.9, unlearnedAuroc: 0.85 },
      ],
    });
    expect(featuresLine({ layers: ['stride8', 'stride16'], defectMemory: memory(4, false) })).toBe(
      'stride 8 + 16, as set; learned 10 labeled defects at weight 4 (cross-validated AUROC 0.978 against 0.850 without)',
    );
    expect(defectMemoryLine(memory(1, true))).toBe(
      'learned 10 labeled defects, their patches unlike any good part, at weight 1 (cross-validated AUROC 0.900 against 0.850 without)',
    );
    // Refused by the guard: the memory validated better but would hide defects it never learned.
    expect(defectMemoryLine(memory(0, false))).toBe(
      '10 labeled defects not learned: the memory that cross-validated best (AUROC 0.978 against 0.850 without) would rank good parts above defects unlike them',
    );
    const none = memory(0, false);
    none.candidates = none.candidates.map((c) => ({
      ...c,
      validationAuroc: Math.min(c.validationAuroc, 0.85),
    }));
    expect(defectMemoryLine({ ...none, defectImages: 1 })).toBe(
      '1 labeled defect not learned: the bank alone cross-validated as well (AUROC 0.850)',
    );
  });

  const metrics = {
    defects: 'synthetic',
    falseAlarmRate: 0.02,
    recall: 0.31,
    imageAuroc: 0.72,
  };

  it('says plainly when validation shows the model cannot separate defects from good parts', () => {
    const expected = modelExpectation(metrics)!;
    expect(expected).toMatchObject({
      goodFlagged: 0.02,
      defectsCaught: 0.31,
      defectsFrom: 'synthetic',
    });
    expect(expected.warning).toMatch(/cannot reliably tell defects from good parts/);
    expect(expected.warning).toMatch(/0\.72/);
    expect(expectationLine(expected)).toBe(
      'Expected: flags 2.0 % of good parts, catches 31.0 % of synthetic defects (validation AUROC 0.720).',
    );
  });

  it('questions a batch the model flagged nearly all of, and no other', () => {
    // Twenty castings inspected as commutators, all flagged: the wrong type, or a camera changed.
    const batch = (
      scored: number,
      flagged: number,
      objectType = 'nut',
      modelId: number | null = 1,
    ) => mostlyFlaggedWarning({ scored, flagged, objectType, modelId });
    const all = batch(20, 20, 'kolektor');
    expect(all).toMatch(/^The model flagged 20 of 20 images as defects\./);
    expect(all).toContain('check that these are kolektor parts');
    expect(all).toContain('retrain kolektor');
    const { share, images } = MOSTLY_FLAGGED;
    expect(batch(images, Math.ceil(share * images))).not.toBeNull();
    expect(batch(images, Math.ceil(share * images) - 1)).toBeNull();
    // Too few images to say anything by: a handful can all be defective.
    expect(batch(images - 1, images - 1)).toBeNull();
    expect(batch(0, 0)).toBeNull();
    // Zero-shot judges the folder against itself: not asked.
    expect(batch(20, 20, 'kolektor', null)).toBeNull();
  });

  it('says how far the share of good parts flagged may stray from the one measured, by how many images it was measured on', () => {
    // One of 46 held-out good images flagged: 2.2 %, anywhere from 0.4 % to 11.3 % on the line.
    const few = modelExpectation({ ...metrics, falseAlarmRate: 1 / 46, goodImages: 46 })!;
    expect(few.goodFlaggedRange!.low).toBeCloseTo(0.00385, 4);
    expect(few.goodFlaggedRange!.high).toBeCloseTo(0.113, 3);
    expect(expectationLine(few)).toBe(
      'Expected: flags 2.2 % of good parts (likely 0.4–11.3 % on the line: set on 46 held-out good images), catches 31.0 % of synthetic defects (validation AUROC 0.720).',
    );
    // Ten times the images, the same share: a range a third as wide, still around it.
    const many = modelExpectation({ ...metrics, falseAlarmRate: 10 / 460, goodImages: 460 })!;
    const width = (e: typeof few) => e.goodFlaggedRange!.high - e.goodFlaggedRange!.low;
    expect(width(many)).toBeLessThan(width(few) / 2.5);
    expect(many.goodFlaggedRange!.low).toBeLessThan(10 / 460);
    expect(many.goodFlaggedRange!.high).toBeGreaterThan(10 / 460);
    // None flagged still leaves room above 0; a model that does not say how many gives no range.
    expect(shareRange(0, 46).low).toBe(0);
    expect(shareRange(0, 46).high).toBeGreaterThan(0.05);
    expect(modelExpectation(metrics)!.goodFlaggedRange).toBeNull();
    // Defects caught: a range from labeled defects (19 of 19 is not a certainty), none from
    // painted ones (three copies of each held-out good image, not a sample of the line's defects).
    const labeled = { ...metrics, defects: 'labels', recall: 1, goodImages: 47, defectImages: 19 };
    const caught = modelExpectation(labeled)!;
    expect(caught.defectsCaughtRange).toMatchObject({ high: 1, images: 19 });
    expect(caught.defectsCaughtRange!.low).toBeCloseTo(0.832, 3);
    expect(expectationLine(caught)).toContain(
      'catches 100.0 % of labeled defects (likely 83.2–100.0 %: 19 of them)',
    );
    expect(
      modelExpectation({ ...metrics, goodImages: 46, defectImages: 138 })!.defectsCaughtRange,
    ).toBeNull();
  });

  it('stays quiet for a model that separates, and reads nothing from models without validation', () => {
    expect(modelExpectation({ ...metrics, imageAuroc: MIN_SEPARATING_AUROC })!.warning).toBeNull();
    expect(modelExpectation({ loss: [1, 0.5] })).toBeNull();
    expect(modelExpectation(null)).toBeNull();
  });

  it('judges a model whose defect head learned from painted defects by its bank alone, and says the catch rate is optimistic', () => {
    const headed = modelExpectation({ ...metrics, imageAuroc: 0.97, bankAuroc: 0.8 })!;
    expect(headed).toMatchObject({ auroc: 0.8, optimistic: true });
    expect(headed.warning).toMatch(/validation AUROC is 0\.80/);
    expect(expectationLine(headed)).toBe(
      `Expected: flags 2.0 % of good parts, catches 31.0 % of synthetic defects (validation AUROC 0.800). ${OPTIMISTIC}`,
    );
    expect(modelExpectation(metrics)!.optimistic).toBe(false);
  });

  it('judges a model with places by their split-half check, not by the bank alone', () => {
    const placed = modelExpectation({
      ...metrics,
      imageAuroc: 0.97,
      bankAuroc: 0.895,
      placesAuroc: 0.946,
    })!;
    expect(placed).toMatchObject({ auroc: 0.946, optimistic: true, warning: null });
    expect(modelExpectation({ ...metrics, bankAuroc: 0.95, placesAuroc: 0.85 })!.warning).toMatch(
      /validation AUROC is 0\.850/,
    );
  });

  it('lists a model by the AUROC its expectation is read from, else the one it recorded', () => {
    // Places kept on painted defects: the row shows their split-half check, not the model's own
    // figure on the defects they were kept for.
    expect(
      modelAuroc({ ...metrics, imageAuroc: 0.982, bankAuroc: 0.957, placesAuroc: 0.972 }),
    ).toBe(0.972);
    expect(modelAuroc({ ...metrics, imageAuroc: 0.97, bankAuroc: 0.8 })).toBe(0.8);
    expect(modelAuroc(metrics)).toBe(0.72);
    // A classifier's metrics carry no expectation: their own AUROC, whatever it is called.
    expect(modelAuroc({ image_auroc: 0.91, loss: [1, 0.5] })).toBe(0.91);
    expect(modelAuroc({ loss: [1, 0.5] })).toBeNull();
    expect(modelAuroc(null)).toBeNull();
  });

  it('sets the threshold for a 2 % false-alarm rate unless told otherwise', () => {
    const good = Array.from({ length: 101 }, (_, i) => i);
    expect(calibrate(good)).toMatchObject({ method: 'good-percentile', threshold: 98 });
    expect(DEFAULT_FALSE_ALARM_RATE).toBe(0.02);
    expect(() => checkFalseAlarmRate(0)).toThrow(BadArgumentError);
    expect(() => checkFalseAlarmRate(0.6)).toThrow(/between 0 and 0.5/);
    expect(checkFalseAlarmRate(0.01)).toBe(0.01);
  });
});
