// A second pretrained encoder that works offline: the InceptionV3 shipped inside the npm package
// nsfwjs (MIT; ImageNet-initialised, its layers up to mixed5 kept from ImageNet when it was
// fine-tuned). The package holds a Keras layers model as JavaScript files (the topology, and
// the uint8-quantised weights as base64 shards); we keep the network up to mixed5, the deepest
// tap, and run it at any input size. About seven times MobileNetV3's time per image, and
// better on some real types, worse on others (EVALUATION.md, A second backbone).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { ModelError, errorMessage } from '../../shared/errors.js';
import { checkInputSize } from './encoder.js';
import {
  loadTappedEncoder,
  openTappableModel,
  tappedEncoder,
  type TappedModelEncoder,
  type FeatureNodes,
} from './imported.js';

export const INCEPTIONV3_KIND = 'inceptionv3';

/**
 * Block outputs at each stride (checked by shape on every load; unpadded convolutions trim the
 * maps a little: 52, 25 and 12 cells from 224 px): stride 4 → 192 channels (the stem's last
 * convolution), stride 8 → mixed2, 288; stride 16 → mixed5, 768.
 */
export const inceptionV3Nodes: Readonly<FeatureNodes> = {
  stride4: 'activation_5',
  stride8: 'mixed2',
  stride16: 'mixed5',
};

/** The deepest layer any tap needs: the model is cut after it. */
const LAST_LAYER = 'mixed5';
const SHARDS = 6;
const SOURCE_LABEL = 'nsfwjs models/inception_v3';

export interface InceptionV3Options {
  /** Side the encoder is reported for and checked at; the network runs at any size. Default 224. */
  inputSize?: number;
}

interface KerasLayer {
  name: string;
  config: { batch_input_shape?: (number | null)[] };
}

interface PackagedModel {
  modelTopology: { model_config: { config: { layers: KerasLayer[]; output_layers: unknown } } };
  weightsManifest: tf.io.WeightsManifestConfig;
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, uint16: 2, uint8: 1 };

/** Folder of the model's files inside the installed nsfwjs package. */
function packagedModelDir(load: NodeJS.Require): string {
  // The package's exports map hides package.json; its CommonJS entry sits in dist/cjs.
  return join(dirname(load.resolve('nsfwjs')), '..', 'models', 'inception_v3');
}

/**
 * The packaged model as TF.js artifacts, cut after LAST_LAYER (its weights repacked to match)
 * and with any input size allowed: the layers up to mixed5 are all convolutional.
 */
function packagedInceptionV3(): tf.io.IOHandler {
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      const load = createRequire(import.meta.url);
      const dir = packagedModelDir(load);
      let model: PackagedModel;
      let shards: Buffer[];
      try {
        model = load(join(dir, 'model.min.js')) as PackagedModel;
        shards = Array.from({ length: SHARDS }, (_, i) =>
          Buffer.from(
            load(join(dir, `group1-shard${i + 1}of${SHARDS}.min.js`)) as string,
            'base64',
          ),
        );
      } catch (error) {
        throw new ModelError(
          `Cannot read InceptionV3 from the nsfwjs package (${dir}): ${errorMessage(error)}. ` +
            'Reinstall the app, or run npm ci.',
          { cause: error },
        );
      }
      const config = model.modelTopology.model_config.config;
      const last = config.layers.findIndex((layer) => layer.name === LAST_LAYER);
      if (last < 0) throw new ModelError(`nsfwjs's InceptionV3 has no layer ${LAST_LAYER}.`);
      config.layers = config.layers.slice(0, last + 1);
      config.output_layers = [[LAST_LAYER, 0, 0]];
      config.layers[0]!.config.batch_input_shape = [null, null, null, 3];
      const kept = new Set(config.layers.map((layer) => layer.name));
      const all = Buffer.concat(shards);
      const specs: tf.io.WeightsManifestEntry[] = [];
      const parts: Buffer[] = [];
      let offset = 0;
      for (const spec of model.weightsManifest.flatMap((group) => group.weights)) {
        const dtype = spec.quantization?.dtype ?? spec.dtype;
        const size = spec.shape.reduce((n, d) => n * d, 1) * BYTES[dtype]!;
        if (kept.has(spec.name.split('/')[0]!)) {
          specs.push(spec);
          parts.push(all.subarray(offset, offset + size));
        }
        offset += size;
      }
      if (offset !== all.length)
        throw new ModelError(`nsfwjs's InceptionV3 weights do not match its manifest.`);
      const weights = Buffer.concat(parts);
      return {
        modelTopology: model.modelTopology,
        format: 'layers-model',
        weightSpecs: specs,
        weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.length),
      };
    },
  };
}

/**
 * Loads the pretrained InceptionV3. It takes 0..1 images as they are (as nsfwjs feeds it; on
 * the real ELPV cells that measured better than Keras's -1..1). `save` writes the cut network
 * into the folder, as MobileNetV3's does.
 */
export async function createInceptionV3Encoder(
  options: InceptionV3Options = {},
): Promise<TappedModelEncoder> {
  const inputSize = options.inputSize ?? 224;
  // Below 160 px its unpadded convolutions shrink the stride-16 map past a stride of 20.
  checkInputSize('InceptionV3 input size', inputSize, 160);
  const source = await openTappableModel(SOURCE_LABEL, packagedInceptionV3());
  return tappedEncoder(source, {
    kind: INCEPTIONV3_KIND,
    nodes: inceptionV3Nodes,
    inputRange: '0..1',
    inputSize,
    sourceLabel: SOURCE_LABEL,
  });
}

/** Loads an InceptionV3 encoder folder written by `save`. */
export function loadInceptionV3Encoder(dir: string): Promise<TappedModelEncoder> {
  return loadTappedEncoder(dir, INCEPTIONV3_KIND);
}
