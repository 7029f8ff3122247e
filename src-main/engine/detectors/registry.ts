// The explicit registry of detectors (no class scanning): how to build each kind on an encoder
// and how to load a saved one. Saved detector folders name their kind in detector.json.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BadArgumentError, ModelError, errorMessage } from '../../shared/errors.js';
import type { Encoder } from '../encoders/encoder.js';
import type { Detector, DetectorKind } from './detector.js';
import {
  ClassifierDetector,
  type ClassifierDetectorConfig,
} from './classifier/classifier-detector.js';
import { PatchcoreDetector, type PatchcoreConfig } from './patchcore/patchcore.js';
import { ZeroShotDetector, type ZeroShotConfig } from './zero-shot/mutual-scoring.js';

interface DetectorEntry<Config> {
  /** What data the detector needs, in the inspector's words. */
  needs: string;
  /**
   * A detector on `encoder`, which it owns from here on: a config it refuses frees the encoder
   * before the error is thrown.
   */
  create(encoder: Encoder, config?: Partial<Config>): Detector;
  load(dir: string): Promise<Detector>;
}

function owning(encoder: Encoder, build: () => Detector): Detector {
  try {
    return build();
  } catch (error) {
    encoder.dispose();
    throw error;
  }
}

export const detectorRegistry = {
  'one-class': {
    needs: 'about 10 or more good images of the object type',
    create: (encoder, config) => owning(encoder, () => new PatchcoreDetector(encoder, config)),
    load: (dir) => PatchcoreDetector.load(dir),
  } satisfies DetectorEntry<PatchcoreConfig>,
  'zero-shot': {
    needs: 'nothing but the unlabeled folder to inspect',
    create: (encoder, config) => owning(encoder, () => new ZeroShotDetector(encoder, config)),
    load: (dir) => ZeroShotDetector.load(dir),
  } satisfies DetectorEntry<ZeroShotConfig>,
  classifier: {
    needs: 'good and defect labels (of this or other object types)',
    create: (encoder, config) =>
      owning(encoder, () => new ClassifierDetector('classifier', encoder, config)),
    load: (dir) => ClassifierDetector.load(dir),
  } satisfies DetectorEntry<ClassifierDetectorConfig>,
  baseline: {
    needs: "good and defect labels; trains the seed's VGG-16 end to end",
    create: (encoder, config) =>
      owning(encoder, () => new ClassifierDetector('baseline', encoder, config)),
    load: (dir) => ClassifierDetector.load(dir),
  } satisfies DetectorEntry<ClassifierDetectorConfig>,
} as const;

export type RegisteredDetectorKind = keyof typeof detectorRegistry;

export function isRegisteredDetector(kind: string): kind is RegisteredDetectorKind {
  return Object.hasOwn(detectorRegistry, kind);
}

export function detectorEntry(kind: string) {
  if (!isRegisteredDetector(kind)) {
    throw new BadArgumentError(
      `Unknown detector '${kind}'. Choose one of: ${Object.keys(detectorRegistry).join(', ')}.`,
    );
  }
  return detectorRegistry[kind];
}

/** Loads any detector folder written by a detector's `save`. */
export async function loadDetector(dir: string): Promise<Detector> {
  let kind: DetectorKind;
  try {
    kind = (
      JSON.parse(await readFile(join(dir, 'detector.json'), 'utf8')) as { kind: DetectorKind }
    ).kind;
  } catch (error) {
    throw new ModelError(
      `${dir} is not a saved detector (cannot read detector.json: ${errorMessage(error)}).`,
      { cause: error },
    );
  }
  return detectorEntry(kind).load(dir);
}
