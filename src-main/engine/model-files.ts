// A trained model on disk: one folder with the encoder (its own save), an optional head (a TF.js
// layers model) and manifest.json saying what it is, what it was trained on and how well it did.
// Written atomically, so a crash mid-save never leaves a half-written model where one was.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ModelError, errorMessage } from '../shared/errors.js';
import { roiProblem, type Roi } from '../shared/roi.js';
import type { Encoder, EncoderInfo } from './encoders/encoder.js';
import { loadEncoder } from './encoders/registry.js';
import { fileLoader, fileSaver, modelJsonPath, writeFolderAtomically } from './model-io.js';
import type { Calibration } from './threshold.js';
import type { Detector } from './detectors/detector.js';
import { loadDetector } from './detectors/registry.js';

export const MANIFEST_FILE = 'manifest.json';
const ENCODER_DIR = 'encoder';
const HEAD_DIR = 'head';

/**
 * What produced the model: SimCLR pretraining, the classifier head, the seed's baseline, or a
 * fitted detector (one-class bank, zero-shot references) that scores an object type.
 */
export type ModelKind = 'simclr' | 'classifier' | 'baseline' | 'one-class' | 'zero-shot';
const MODEL_KINDS: readonly ModelKind[] = [
  'simclr',
  'classifier',
  'baseline',
  'one-class',
  'zero-shot',
];

/** How files become encoder input; scoring must do exactly this (data/image-io decodeImage). */
export interface Preprocessing {
  /** Decoded to RGB (gray repeated, alpha flattened onto black), values scaled to 0..1. */
  colour: 'rgb';
  range: '0..1';
  /** Resized to inputSize × inputSize, aspect ratio not kept. */
  resize: 'fill';
}

export const standardPreprocessing: Preprocessing = {
  colour: 'rgb',
  range: '0..1',
  resize: 'fill',
};

export interface ModelManifest {
  format: 1;
  kind: ModelKind;
  /** Object types whose images trained it (for cross-type evaluation: the "seen" types). */
  objectTypes: string[];
  /** Square side, in pixels, images are resized to. */
  inputSize: number;
  preprocessing: Preprocessing;
  /**
   * The object type's region of interest, in image pixels: every image is cropped to it (clipped
   * to the image) before resizing, for fitting and for scoring alike. Absent: the whole image.
   */
  roi?: Roi;
  /** Decision threshold and score scale, when the model scores defects. */
  threshold?: Calibration;
  /** Validation metrics, loss curves: whatever the training method reports. */
  metrics: Record<string, unknown>;
  /** The model this one was trained from (e.g. the SimCLR encoder under a classifier). */
  parent?: string;
  /** ISO time of saving. */
  createdAt: string;
  encoder: EncoderInfo & { dir: string };
  /** The head on the embedding, if any: embedding → defect logit. */
  head?: { dir: string; outputs: 'defect-logit' };
  /** Training settings, for the model page and for reproducing the run. */
  training?: Record<string, unknown>;
}

export type NewModelManifest = Omit<ModelManifest, 'format' | 'createdAt' | 'encoder' | 'head'> & {
  createdAt?: string;
};

export interface LoadedModel {
  dir: string;
  manifest: ModelManifest;
  encoder: Encoder;
  head?: tf.LayersModel;
  /** Frees the encoder and the head. */
  dispose(): void;
}

/**
 * Saves `encoder` (and `head`) with a manifest into `dir`, replacing an older model there in one
 * rename. Returns the manifest written. Nothing is disposed: the caller still owns both.
 */
export async function saveModel(
  dir: string,
  parts: { encoder: Encoder; head?: tf.LayersModel; manifest: NewModelManifest },
): Promise<ModelManifest> {
  const manifest: ModelManifest = {
    format: 1,
    ...parts.manifest,
    createdAt: parts.manifest.createdAt ?? new Date().toISOString(),
    encoder: { ...parts.encoder.info, dir: ENCODER_DIR },
    ...(parts.head ? { head: { dir: HEAD_DIR, outputs: 'defect-logit' as const } } : {}),
  };
  await writeFolderAtomically(dir, async (tmp) => {
    await parts.encoder.save(join(tmp, ENCODER_DIR));
    if (parts.head) {
      await mkdir(join(tmp, HEAD_DIR));
      await parts.head.save(fileSaver(join(tmp, HEAD_DIR)));
    }
    // The manifest last: a folder with a manifest is a complete model.
    await writeFile(join(tmp, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
  });
  return manifest;
}

/** Reads and checks a model's manifest without loading any weights. */
export async function readManifest(dir: string): Promise<ModelManifest> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8'));
  } catch (error) {
    throw new ModelError(
      `${dir} is not a DefectScope model (cannot read ${MANIFEST_FILE}: ${errorMessage(error)}). Choose a model folder written by \`defectscope train\`.`,
      { cause: error },
    );
  }
  const m = parsed as Partial<ModelManifest>;
  const problems: string[] = [];
  if (m.format !== 1) problems.push(`format ${String(m.format)} (this version reads format 1)`);
  if (!MODEL_KINDS.includes(m.kind as ModelKind)) problems.push(`unknown kind '${String(m.kind)}'`);
  if (!Array.isArray(m.objectTypes)) problems.push('no object types');
  if (!Number.isInteger(m.inputSize) || m.inputSize! <= 0) problems.push('no input size');
  if (typeof m.encoder?.dir !== 'string' || typeof m.encoder.kind !== 'string')
    problems.push('no encoder');
  if (
    m.roi !== undefined &&
    (m.roi === null || typeof m.roi !== 'object' || roiProblem(m.roi) !== null)
  )
    problems.push('a region of interest that is not a rectangle of whole pixels');
  if (problems.length > 0) {
    throw new ModelError(
      `The model in ${dir} cannot be used: ${problems.join(', ')}. It may come from a newer DefectScope.`,
    );
  }
  return m as ModelManifest;
}

/** Loads a model on whatever backend the engine runs on. */
export async function loadModel(dir: string): Promise<LoadedModel> {
  const manifest = await readManifest(dir);
  const encoder = await loadEncoder(join(dir, manifest.encoder.dir));
  let head: tf.LayersModel | undefined;
  try {
    if (manifest.head)
      head = await tf.loadLayersModel(fileLoader(modelJsonPath(join(dir, manifest.head.dir))));
  } catch (error) {
    encoder.dispose();
    throw new ModelError(`Cannot read the head of the model in ${dir}: ${errorMessage(error)}`, {
      cause: error,
    });
  }
  return {
    dir,
    manifest,
    encoder,
    ...(head ? { head } : {}),
    dispose() {
      encoder.dispose();
      head?.dispose();
    },
  };
}

/**
 * Saves a fitted detector as a model folder: the detector's own files (its encoder under
 * encoder/) plus the manifest, written atomically like every model.
 */
export async function saveDetectorModel(
  dir: string,
  detector: Detector,
  manifest: NewModelManifest,
): Promise<ModelManifest> {
  const full: ModelManifest = {
    format: 1,
    ...manifest,
    createdAt: manifest.createdAt ?? new Date().toISOString(),
    encoder: { ...detector.encoder.info, dir: ENCODER_DIR },
  };
  await writeFolderAtomically(dir, async (tmp) => {
    await detector.save(tmp);
    await writeFile(join(tmp, MANIFEST_FILE), JSON.stringify(full, null, 2));
  });
  return full;
}

/** Loads a detector model folder written by saveDetectorModel. */
export async function loadDetectorModel(
  dir: string,
): Promise<{ manifest: ModelManifest; detector: Detector }> {
  const manifest = await readManifest(dir);
  return { manifest, detector: await loadDetector(dir) };
}
