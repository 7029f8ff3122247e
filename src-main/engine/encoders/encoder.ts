// The one interface behind every encoder: an image batch in, named feature maps at strides
// 4/8/16 and a pooled embedding out. Detectors and heads depend on this, never on a network.
import type * as tf from '@tensorflow/tfjs';

import type { FeatureName } from '../../shared/dto.js';
import { BadArgumentError } from '../../shared/errors.js';
export type { FeatureName };

/**
 * Refuses an input side that is not a whole number of pixels or is below `min`, the least the
 * network's maps need; `what` names it ("MobileNetV3 input size").
 */
export function checkInputSize(what: string, size: number, min: number): void {
  if (!Number.isInteger(size) || size < min)
    throw new BadArgumentError(
      `${what} must be an integer of at least ${min} pixels; got ${size}.`,
    );
}

export interface EncoderOutput {
  /** Feature maps [B, H/stride, W/stride, C]; an encoder may omit stride4. */
  features: Partial<Record<FeatureName, tf.Tensor4D>> & Record<'stride8' | 'stride16', tf.Tensor4D>;
  /** Pooled embedding [B, D]. */
  embedding: tf.Tensor2D;
}

export interface EncoderInfo {
  /** Registry id, e.g. 'resnet', 'mobilenetv3', 'vgg16'. */
  kind: string;
  /** Square input side the encoder was built or trained for, in pixels. */
  inputSize: number;
  /** Channels of each feature map. */
  channels: Partial<Record<FeatureName, number>>;
  embeddingSize: number;
}

export interface Encoder {
  readonly info: EncoderInfo;
  /**
   * images: float32 [B, H, W, 3], RGB scaled to 0..1 (what preprocess produces). Each encoder
   * applies its own normalisation. Returns new tensors the caller owns. `training` switches
   * batch-norm and dropout to training behaviour for SimCLR and fine-tuning.
   */
  encode(images: tf.Tensor4D, options?: { training?: boolean }): EncoderOutput;
  /** Variables a trainer may update; empty for a frozen (graph) encoder. */
  trainableVariables(): tf.Variable[];
  /** Writes the encoder into a folder (weights + its own config); see model-io.ts. */
  save(dir: string): Promise<void>;
  dispose(): void;
}
