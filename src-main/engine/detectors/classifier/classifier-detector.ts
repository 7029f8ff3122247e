// The seed paper's supervised detectors behind the common interface: 'classifier' is a dense
// head on a (frozen) pretrained or SimCLR encoder; 'baseline' is the seed's VGG-16 trained end to
// end. Both score P(defect); neither draws an anomaly map (the head sees only the pooled vector).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_INPUT_SIZE } from '../../../shared/dto.js';
import { BadArgumentError, ModelError } from '../../../shared/errors.js';
import type { Encoder } from '../../encoders/encoder.js';
import { loadEncoder } from '../../encoders/registry.js';
import {
  classifierConfig,
  predictDefect,
  trainClassifier,
  type LabeledImage,
} from '../../heads/classifier.js';
import { fileLoader, fileSaver, modelJsonPath } from '../../model-io.js';
import type { Detector, FitBatch, FitOptions, ScoreResult } from '../detector.js';

export interface ClassifierDetectorConfig {
  inputSize: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Fraction of the labeled images held out to report validation accuracy. */
  validationFraction: number;
  seed: number;
}

export const defaultClassifierDetectorConfig: ClassifierDetectorConfig = {
  inputSize: DEFAULT_INPUT_SIZE,
  epochs: 10,
  batchSize: 16,
  learningRate: 1e-4,
  validationFraction: 0.2,
  seed: 1,
};

const CONFIG_FILE = 'detector.json';

export class ClassifierDetector implements Detector {
  readonly config: ClassifierDetectorConfig;
  private head: tf.LayersModel | undefined;
  /** Validation metrics of the last fit, for the model's manifest. */
  lastValidation:
    { accuracy: number; balancedAccuracy: number; f1: number; auroc: number | null } | undefined;

  constructor(
    readonly kind: 'classifier' | 'baseline',
    readonly encoder: Encoder,
    config: Partial<ClassifierDetectorConfig> = {},
  ) {
    this.config = { ...defaultClassifierDetectorConfig, ...config };
  }

  get inputSize(): number {
    return this.config.inputSize;
  }

  /** The head reads the pooled embedding of a square input, as it was trained. */
  get inputShape(): number {
    return this.config.inputSize;
  }

  /**
   * Trains on labeled batches. Training runs several augmented epochs, so it reads the files
   * again itself: each batch must carry `paths` (decoded-batches does) and `labels`.
   */
  async fit(
    batches: AsyncIterable<FitBatch> | Iterable<FitBatch>,
    options: FitOptions = {},
  ): Promise<void> {
    const labeled: LabeledImage[] = [];
    for await (const batch of batches as AsyncIterable<FitBatch & { paths?: string[] }>) {
      if (!batch.paths || !batch.labels) {
        throw new BadArgumentError(
          'The classifier trains on labeled image files: give batches with paths and labels.',
        );
      }
      batch.paths.forEach((path, i) => labeled.push({ path, defect: batch.labels![i] === 1 }));
    }
    // A deterministic hold-out, interleaved so both classes are represented.
    const every = Math.max(2, Math.round(1 / this.config.validationFraction));
    const validation = labeled.filter((_, i) => i % every === every - 1);
    const train = labeled.filter((_, i) => i % every !== every - 1);
    const result = await trainClassifier({
      encoder: this.encoder,
      config: classifierConfig(train, validation, {
        epochs: this.config.epochs,
        batchSize: this.config.batchSize,
        inputSize: this.config.inputSize,
        learningRate: this.config.learningRate,
        fineTuneEncoder: this.kind === 'baseline',
        seed: this.config.seed,
      }),
      ...(options.signal ? { signal: options.signal } : {}),
      onProgress: (step, total) => options.onProgress?.(step, total, 'training the classifier'),
    });
    this.head?.dispose();
    this.head = result.head;
    const last = result.epochs.at(-1);
    if (last) {
      this.lastValidation = {
        accuracy: last.accuracy,
        balancedAccuracy: last.balancedAccuracy,
        f1: last.f1,
        auroc: last.auroc,
      };
    }
  }

  async score(images: tf.Tensor4D): Promise<ScoreResult[]> {
    if (!this.head) throw new ModelError(`This ${this.kind} detector is not trained yet.`);
    const probabilities = predictDefect(this.encoder, this.head, images);
    try {
      return Array.from(await probabilities.data(), (score) => ({ score }));
    } finally {
      probabilities.dispose();
    }
  }

  async save(dir: string): Promise<void> {
    if (!this.head)
      throw new ModelError(`Cannot save a ${this.kind} detector before it is trained.`);
    await this.encoder.save(join(dir, 'encoder'));
    await mkdir(join(dir, 'head'), { recursive: true });
    await this.head.save(fileSaver(join(dir, 'head')));
    await writeFile(
      join(dir, CONFIG_FILE),
      JSON.stringify(
        { kind: this.kind, config: this.config, validation: this.lastValidation ?? null },
        null,
        2,
      ),
    );
  }

  dispose(): void {
    this.head?.dispose();
    this.head = undefined;
    this.encoder.dispose();
  }

  static async load(dir: string): Promise<ClassifierDetector> {
    const saved = JSON.parse(await readFile(join(dir, CONFIG_FILE), 'utf8')) as {
      kind: 'classifier' | 'baseline';
      config: ClassifierDetectorConfig;
    };
    const encoder = await loadEncoder(join(dir, 'encoder'));
    const detector = new ClassifierDetector(saved.kind, encoder, saved.config);
    try {
      detector.head = await tf.loadLayersModel(fileLoader(modelJsonPath(join(dir, 'head'))));
    } catch (error) {
      detector.dispose();
      throw new ModelError(`Cannot read the classifier head in ${dir}: ${String(error)}`, {
        cause: error,
      });
    }
    return detector;
  }
}
