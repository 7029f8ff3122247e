// Inspection as host tasks: prepare what scores an inspection (load a model folder, or sample a
// folder's own files as zero-shot references and save them as a model folder the watch phase and
// a resumed run reuse), then score batches of files into per-file results and per-file errors.
// The owner streams batches and records each one, so no task ever holds a whole folder.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Decision, FileProblem } from '../../shared/dto.js';
import { BadArgumentError, ImageError, ModelError, errorMessage } from '../../shared/errors.js';
import type { Roi } from '../../shared/roi.js';
import { placesLine } from '../../shared/model-quality.js';
import { hashFile } from '../../data/image-io.js';
import { heatmapName, writeHeatmapOverlay } from '../../data/heatmap.js';
import { initBackend } from '../backend.js';
import { decodedBatches } from '../decoded-batches.js';
import type { Detector } from '../detectors/detector.js';
import { detectorEntry } from '../detectors/registry.js';
import { asZeroShot, zeroShotFeatures } from '../detectors/zero-shot/mutual-scoring.js';
import { createEncoder } from '../encoders/registry.js';
import { sharedAspect } from '../input-shape.js';
import { loadDetectorModel, saveDetectorModel, standardPreprocessing } from '../model-files.js';
import { rawScores } from '../raw-scores.js';
import { decide, normalise, type Calibration } from '../threshold.js';
import type { InspectBatchArgs, InspectPrepareArgs, TaskContext } from './args.js';

export interface PreparedInspection {
  modelPath: string;
  kind: string;
  inputSize: number;
  calibration: Calibration;
  /** The model's region of interest: scoring and anomaly maps keep to it. Null: the whole image. */
  roi: Roi | null;
  /** Zero-shot: how many of the folder's images became references and calibrated the scale. */
  references: number | null;
  calibrationImages: number | null;
}

export interface InspectedFile {
  path: string;
  sha256: string;
  rawScore: number;
  score: number;
  decision: Decision;
  heatmapPath: string | null;
}

export interface InspectBatchResult {
  results: InspectedFile[];
  errors: FileProblem[];
  /** Of the results, how many took the score the zero-shot preparation had computed. */
  fromPreparation: number;
}

/**
 * The detector of the inspection being run, kept between batches: loading a model for every
 * batch of 32 would cost more than scoring it. One at a time; `inspect-release` frees it.
 * `roi`: the model's region of interest (its manifest's). `known`: raw scores a zero-shot
 * preparation already computed, by file content (sha256), so the batches need not score those
 * files again unless they want their heatmaps.
 */
let cached:
  { dir: string; detector: Detector; roi: Roi | null; known?: Map<string, number> } | undefined;

async function detectorFor(dir: string): Promise<{ detector: Detector; roi: Roi | null }> {
  if (cached?.dir !== dir) {
    releaseCached();
    const { detector, manifest } = await loadDetectorModel(dir);
    cached = { dir, detector, roi: manifest.roi ?? null };
  }
  return cached;
}

function releaseCached(): void {
  cached?.detector.dispose();
  cached = undefined;
}

export async function prepareInspection(
  args: InspectPrepareArgs,
  ctx: TaskContext,
): Promise<PreparedInspection> {
  await initBackend();
  if (args.model) {
    const { manifest } = await loadDetectorModel(args.model).then(async (loaded) => {
      // Keep it loaded: the batches that follow use it.
      releaseCached();
      cached = { dir: args.model!, detector: loaded.detector, roi: loaded.manifest.roi ?? null };
      return loaded;
    });
    if (!manifest.threshold) {
      throw new ModelError(
        `The model in ${args.model} has no calibrated threshold; retrain the object type.`,
      );
    }
    return {
      modelPath: args.model,
      kind: manifest.kind,
      inputSize: manifest.inputSize,
      calibration: manifest.threshold,
      roi: manifest.roi ?? null,
      references: null,
      calibrationImages: null,
    };
  }
  const zeroShot = args.zeroShot!;
  const { inputSize, roi } = zeroShot;
  const detector = asZeroShot(
    detectorEntry('zero-shot').create(await createEncoder('mobilenetv3', { inputSize }), {
      inputSize,
      aspect: await sharedAspect(zeroShot.files, roi),
      references: Math.max(2, Math.min(zeroShot.references, zeroShot.files.length)),
      ...(zeroShot.layers ? { features: zeroShotFeatures(zeroShot.layers) } : {}),
    }),
  );
  try {
    const batchOptions = { batchSize: args.batchSize, signal: ctx.signal, roi };
    ctx.log(`zero-shot: sampling references from ${zeroShot.files.length} of the folder's images`);
    const leftOut: ImageError[] = [];
    const fitBatches = decodedBatches(zeroShot.files, detector.inputShape, {
      ...batchOptions,
      onFailure: (failure) => {
        leftOut.push(failure);
        ctx.log(`zero-shot: left out of the references: ${failure.message}`);
      },
    });
    await detector
      .fit(fitBatches, {
        total: zeroShot.files.length,
        signal: ctx.signal,
        onProgress: (done, total) => ctx.progress(done, total, 'sampling reference images'),
      })
      .catch((error: unknown) => {
        // Said, not just "needs at least 2 images": why the sampled files could not serve.
        if (error instanceof BadArgumentError && leftOut.length > 0)
          throw new BadArgumentError(
            `${error.message} ${leftOut.length} of the ${zeroShot.files.length} sampled images could not be used; the first: ${leftOut[0]!.message}`,
          );
        throw error;
      });
    if (detector.placesCheck)
      ctx.log(`zero-shot: ${placesLine(detector.placesCheck, 'reference images')}`);
    // The scale comes from the same sample: most images are good, so a robust outlier bound
    // over their scores is the threshold (ZeroShotDetector.calibrate).
    const known = new Map<string, number>();
    const scores: number[] = [];
    for await (const batch of rawScores(detector, zeroShot.files, batchOptions)) {
      scores.push(...batch.map((r) => r.score));
      // Recorded by content: a file rewritten before its batch comes is scored again.
      const hashes = await Promise.allSettled(batch.map((r) => hashFile(r.path)));
      hashes.forEach((h, i) => {
        if (h.status === 'fulfilled') known.set(h.value, batch[i]!.score);
      });
    }
    const calibration = detector.calibrate(scores);
    await saveDetectorModel(zeroShot.out, detector, {
      kind: 'zero-shot',
      objectTypes: [zeroShot.objectType],
      inputSize,
      preprocessing: standardPreprocessing,
      threshold: calibration,
      metrics: {},
      training: { references: detector.referenceCount, calibrationImages: scores.length },
      ...(roi ? { roi } : {}),
    });
    releaseCached();
    cached = { dir: zeroShot.out, detector, roi, known };
    return {
      modelPath: zeroShot.out,
      kind: 'zero-shot',
      inputSize,
      calibration,
      roi,
      references: detector.referenceCount,
      calibrationImages: scores.length,
    };
  } catch (error) {
    detector.dispose();
    throw error;
  }
}

function problemOf(error: unknown): string {
  return error instanceof ImageError ? error.problem : 'error';
}

/** A raw score judged at the inspection's calibration, and whether its file gets a heatmap. */
function judged(rawScore: number, args: InspectBatchArgs) {
  const score = normalise(rawScore, args.calibration);
  const decision = decide(score, args.calibration.unsureBand);
  const heatmap = args.heatmapDir !== null && (args.heatmaps === 'all' || decision !== 'OK');
  return { score, decision, heatmap };
}

/**
 * A file's result from the score the preparation computed, when it needs no heatmap (with
 * 'flagged' heatmaps, an OK file); undefined when it must be scored here.
 */
function knownResult(
  path: string,
  sha256: string,
  args: InspectBatchArgs,
): InspectedFile | undefined {
  const rawScore = cached?.known?.get(sha256);
  if (rawScore === undefined) return undefined;
  const { score, decision, heatmap } = judged(rawScore, args);
  return heatmap ? undefined : { path, sha256, rawScore, score, decision, heatmapPath: null };
}

export async function inspectBatch(
  args: InspectBatchArgs,
  ctx: TaskContext,
): Promise<InspectBatchResult> {
  await initBackend();
  const { detector, roi } = await detectorFor(args.modelPath);
  const errors: FileProblem[] = [];
  const hashes = new Map<string, string>();
  // Hash first: a file that vanished since it was listed is reported, not scored.
  // Read concurrently: the files are small and the disk, not the CPU, is the wait.
  const hashed = await Promise.allSettled(args.files.map((path) => hashFile(path)));
  hashed.forEach((outcome, i) => {
    const path = args.files[i]!;
    if (outcome.status === 'fulfilled') hashes.set(path, outcome.value);
    else
      errors.push({
        path,
        problem: problemOf(outcome.reason),
        message: errorMessage(outcome.reason),
      });
  });
  const results: InspectedFile[] = [];
  const toScore: string[] = [];
  for (const [path, sha256] of hashes) {
    const known = knownResult(path, sha256, args);
    if (known) results.push(known);
    else toScore.push(path);
  }
  const fromPreparation = results.length;
  if (args.heatmapDir) await mkdir(args.heatmapDir, { recursive: true });
  for await (const batch of rawScores(detector, toScore, {
    batchSize: args.batchSize,
    signal: ctx.signal,
    anomalyMaps: args.heatmapDir !== null,
    roi,
    onError: (error) => errors.push(error),
  })) {
    for (const result of batch) {
      const { score, decision, heatmap } = judged(result.score, args);
      let heatmapPath: string | null = null;
      if (args.heatmapDir && result.anomalyMap && heatmap) {
        const target = join(args.heatmapDir, heatmapName(result.path));
        try {
          await writeHeatmapOverlay(result.path, result.anomalyMap, target, {
            normalise: (raw) => normalise(raw, args.calibration),
            roi,
          });
          heatmapPath = target;
        } catch (error) {
          // The score stands without its overlay (the file may have vanished since decoding).
          ctx.log(`no heatmap for ${result.path}: ${errorMessage(error)}`);
        }
      }
      results.push({
        path: result.path,
        sha256: hashes.get(result.path)!,
        rawScore: result.score,
        score,
        decision,
        heatmapPath,
      });
    }
    ctx.progress(results.length + errors.length, args.files.length);
  }
  return { results, errors, fromPreparation };
}

/** Frees the detector kept between batches (the inspection ended). */
export async function releaseInspection(): Promise<{ released: boolean }> {
  const released = cached !== undefined;
  releaseCached();
  return { released };
}
