// The seed paper's baseline as an encoder: VGG-16's four conv+pool blocks, then three conv layers,
// pooling and global average pooling (the paper's final dense layer is the classifier head's job).
// Layer names follow Keras' VGG16, so a user's converted ImageNet weights load by name.
import { extname } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { BadArgumentError, ModelError } from '../../shared/errors.js';
import { fileLoader } from '../model-io.js';
import { checkInputSize, type Encoder, type EncoderInfo, type EncoderOutput } from './encoder.js';
import { loadEncoderLayers, readEncoderConfig, saveEncoderFolder } from './encoder-folder.js';

export const VGG_KIND = 'vgg16';

/**
 * How 0..1 RGB images are normalised. 'caffe' is what Keras' VGG16 weights expect (BGR, 0..255,
 * ImageNet channel means subtracted); 'torch' is torchvision's (RGB, ImageNet mean and std).
 */
export type VggPreprocessing = 'caffe' | 'torch';

export interface VggOptions {
  /** Square side the encoder is built or trained for; the network runs at any size. */
  inputSize: number;
  /** Channel multiplier on VGG-16's 64…512 (1 = the paper's network; weight files need 1). */
  width: number;
  preprocessing: VggPreprocessing;
  /**
   * Conv blocks 1…n whose weights stay fixed in training. The seed paper freezes the first four
   * (ImageNet-initialised) and fine-tunes only block 5; 0 trains everything.
   */
  frozenBlocks: 0 | 1 | 2 | 3 | 4;
  /** A TF.js layers model.json (e.g. Keras' VGG16 via tensorflowjs_converter) to initialise from. */
  weightsPath?: string;
  /** Seed for the weight initialisers, for reproducible tests; random when absent. */
  seed?: number;
}

export const defaultVggOptions: Readonly<VggOptions> = {
  inputSize: 224,
  width: 1,
  preprocessing: 'caffe',
  frozenBlocks: 0,
};

/** Which layers a weights file initialised, kept in encoder.json for the model page. */
export interface VggInitialisation {
  path: string;
  loadedLayers: string[];
  randomLayers: string[];
}

interface SavedConfig {
  kind: typeof VGG_KIND;
  inputSize: number;
  channels: EncoderInfo['channels'];
  embeddingSize: number;
  options: Omit<VggOptions, 'weightsPath'> & { initialisedFrom?: VggInitialisation };
}

// Convs per block and their channels at width 1 (VGG-16, configuration D).
const BLOCKS: readonly { convs: number; filters: number }[] = [
  { convs: 2, filters: 64 },
  { convs: 2, filters: 128 },
  { convs: 3, filters: 256 },
  { convs: 3, filters: 512 },
  { convs: 3, filters: 512 },
];
// Each block's last conv, before its pool: block 3 runs at stride 4, block 4 at 8, block 5 at 16.
const TAPS = {
  stride4: 'block3_conv3',
  stride8: 'block4_conv3',
  stride16: 'block5_conv3',
} as const;
const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68];
const TORCH_MEAN = [0.485, 0.456, 0.406];
const TORCH_STD = [0.229, 0.224, 0.225];

/** Encoder over a layers model with outputs stride4, stride8, stride16 and the embedding. */
export class VggEncoder implements Encoder {
  readonly info: EncoderInfo;
  readonly options: Omit<VggOptions, 'weightsPath'>;
  readonly initialisedFrom: VggInitialisation | undefined;
  /** The layers model; it expects preprocessed input, so go through `encode`. */
  readonly model: tf.LayersModel;

  constructor(
    model: tf.LayersModel,
    options: Omit<VggOptions, 'weightsPath'>,
    initialisedFrom?: VggInitialisation,
  ) {
    this.model = model;
    this.options = options;
    this.initialisedFrom = initialisedFrom;
    const channels = BLOCKS.map((b) => scaledFilters(b.filters, options.width));
    this.info = {
      kind: VGG_KIND,
      inputSize: options.inputSize,
      channels: { stride4: channels[2]!, stride8: channels[3]!, stride16: channels[4]! },
      embeddingSize: channels[4]!,
    };
    freezeBlocks(model, options.frozenBlocks);
  }

  encode(images: tf.Tensor4D, options: { training?: boolean } = {}): EncoderOutput {
    if (images.rank !== 4 || images.shape[3] !== 3) {
      throw new BadArgumentError(
        `The VGG encoder needs images [batch, height, width, 3]; got [${images.shape}].`,
      );
    }
    return tf.tidy(() => {
      const input =
        this.options.preprocessing === 'caffe'
          ? tf.sub(tf.mul(tf.reverse(images, -1), 255), tf.tensor1d(CAFFE_MEAN_BGR))
          : tf.div(tf.sub(images, tf.tensor1d(TORCH_MEAN)), tf.tensor1d(TORCH_STD));
      const [stride4, stride8, stride16, embedding] = this.model.apply(input, {
        training: options.training ?? false,
      }) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor2D];
      return {
        features: { stride4, stride8, stride16 },
        embedding,
      } as unknown as tf.TensorContainer;
    }) as unknown as EncoderOutput;
  }

  /** The weights of the blocks that are not frozen. */
  trainableVariables(): tf.Variable[] {
    return this.model.trainableWeights.map((w) => w.read() as tf.Variable);
  }

  async save(dir: string): Promise<void> {
    const saved: SavedConfig = {
      kind: VGG_KIND,
      inputSize: this.info.inputSize,
      channels: this.info.channels,
      embeddingSize: this.info.embeddingSize,
      options: {
        ...this.options,
        ...(this.initialisedFrom ? { initialisedFrom: this.initialisedFrom } : {}),
      },
    };
    await saveEncoderFolder(dir, this.model, saved);
  }

  dispose(): void {
    this.model.dispose();
  }
}

/**
 * Builds the baseline; with `weightsPath`, every conv layer whose name and shape match one in the
 * file is initialised from it and the rest stay random (a file with only blocks 1–4, as the
 * paper uses, is fine). A layer present under the same name with another shape is an error.
 */
export async function createVggEncoder(options: Partial<VggOptions> = {}): Promise<VggEncoder> {
  const { weightsPath, ...rest } = { ...defaultVggOptions, ...options };
  validate(rest);
  const model = buildVggModel(rest);
  try {
    const initialisedFrom = weightsPath
      ? await loadWeightsByName(model, weightsPath, rest.width)
      : undefined;
    return new VggEncoder(model, rest, initialisedFrom);
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/** Loads an encoder written by `VggEncoder.save`. */
export async function loadVggEncoder(dir: string): Promise<VggEncoder> {
  const saved = await readEncoderConfig<SavedConfig>(dir, VGG_KIND, {
    encoder: 'the VGG encoder',
    expected: 'a VGG encoder',
  });
  const { initialisedFrom, ...options } = saved.options;
  const model = await loadEncoderLayers(dir);
  return new VggEncoder(model, options, initialisedFrom);
}

function scaledFilters(filters: number, width: number): number {
  return Math.max(4, Math.round(filters * width));
}

function convLayerNames(): string[] {
  return BLOCKS.flatMap((block, b) =>
    Array.from({ length: block.convs }, (_, c) => `block${b + 1}_conv${c + 1}`),
  );
}

function validate(options: Omit<VggOptions, 'weightsPath'>): void {
  checkInputSize('VGG input size', options.inputSize, 32);
  if (!(options.width > 0 && options.width <= 4)) {
    throw new BadArgumentError(`VGG width must be a multiplier in (0, 4]; got ${options.width}.`);
  }
  if (options.preprocessing !== 'caffe' && options.preprocessing !== 'torch') {
    throw new BadArgumentError(
      `VGG preprocessing must be 'caffe' or 'torch'; got '${String(options.preprocessing)}'.`,
    );
  }
  if (![0, 1, 2, 3, 4].includes(options.frozenBlocks)) {
    throw new BadArgumentError(`VGG frozen blocks must be 0–4; got ${options.frozenBlocks}.`);
  }
}

function freezeBlocks(model: tf.LayersModel, frozenBlocks: number): void {
  for (const layer of model.layers) {
    const block = /^block(\d)_conv/.exec(layer.name)?.[1];
    if (block) layer.trainable = Number(block) > frozenBlocks;
  }
}

function buildVggModel(options: Omit<VggOptions, 'weightsPath'>): tf.LayersModel {
  let seed = options.seed;
  const input = tf.input({ shape: [null, null, 3], name: 'images' });
  const taps = new Map<string, tf.SymbolicTensor>();
  let x = input;
  BLOCKS.forEach((block, b) => {
    for (let c = 0; c < block.convs; c++) {
      const name = `block${b + 1}_conv${c + 1}`;
      x = tf.layers
        .conv2d({
          filters: scaledFilters(block.filters, options.width),
          kernelSize: 3,
          padding: 'same',
          activation: 'relu',
          // He initialisation suits a plain ReLU stack trained from scratch without batch norm.
          kernelInitializer: tf.initializers.heNormal(seed === undefined ? {} : { seed: seed++ }),
          name,
        })
        .apply(x) as tf.SymbolicTensor;
      taps.set(name, x);
    }
    // 'same' pooling rounds odd sides up, as the other encoders do, so strides stay comparable.
    x = tf.layers
      .maxPooling2d({ poolSize: 2, strides: 2, padding: 'same', name: `block${b + 1}_pool` })
      .apply(x) as tf.SymbolicTensor;
  });
  const embedding = tf.layers
    .globalAveragePooling2d({ name: 'global_average_pool' })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({
    inputs: input,
    outputs: [
      taps.get(TAPS.stride4)!,
      taps.get(TAPS.stride8)!,
      taps.get(TAPS.stride16)!,
      embedding,
    ],
    name: 'vgg16_encoder',
  });
}

/** Copies conv kernels and biases from a layers-model weights file, matching by layer name. */
async function loadWeightsByName(
  model: tf.LayersModel,
  path: string,
  width: number,
): Promise<VggInitialisation> {
  if (['.h5', '.hdf5', '.keras'].includes(extname(path).toLowerCase())) {
    throw new BadArgumentError(
      `${path} is a Keras file; convert it first: tensorflowjs_converter --input_format keras ${path} <folder>, ` +
        `then choose <folder>/model.json.`,
    );
  }
  const artifacts = await fileLoader(path).load!();
  if (!artifacts.weightSpecs || !artifacts.weightData) {
    throw new ModelError(`${path} holds no weights.`);
  }
  const decoded = tf.io.decodeWeights(artifacts.weightData, artifacts.weightSpecs);
  try {
    // Keras names weights 'block1_conv1/kernel', possibly under a model prefix or with ':0'.
    const byLayerWeight = new Map<string, tf.Tensor>();
    for (const [name, tensor] of Object.entries(decoded)) {
      const parts = name.replace(/:\d+$/, '').split('/');
      if (parts.length >= 2) byLayerWeight.set(parts.slice(-2).join('/'), tensor);
    }
    const loaded: string[] = [];
    const random: string[] = [];
    const mismatches: string[] = [];
    const assignments: [tf.layers.Layer, tf.Tensor[]][] = [];
    for (const layerName of convLayerNames()) {
      const layer = model.getLayer(layerName);
      const kernel = byLayerWeight.get(`${layerName}/kernel`);
      const bias = byLayerWeight.get(`${layerName}/bias`);
      if (!kernel || !bias) {
        random.push(layerName);
        continue;
      }
      const [wantKernel, wantBias] = layer.getWeights().map((w) => w.shape);
      if (
        !tf.util.arraysEqual(kernel.shape, wantKernel!) ||
        !tf.util.arraysEqual(bias.shape, wantBias!)
      ) {
        mismatches.push(
          `${layerName}: file has kernel [${kernel.shape}], bias [${bias.shape}]; model needs [${wantKernel}], [${wantBias}]`,
        );
        continue;
      }
      assignments.push([layer, [kernel, bias]]);
      loaded.push(layerName);
    }
    if (mismatches.length > 0) {
      throw new ModelError(
        `The weights in ${path} do not fit this VGG-16 (width ${width}):\n  ` +
          `${mismatches.join('\n  ')}\nUse width 1 for standard VGG-16 weights, or a file saved from a network like this one.`,
      );
    }
    if (loaded.length === 0) {
      const found = [...byLayerWeight.keys()].slice(0, 12).join(', ');
      throw new ModelError(
        `${path} has no VGG-16 conv weights: expected names like block1_conv1/kernel … block5_conv3/bias ` +
          `(Keras' VGG16 layer names); it has ${found || 'no named weights'}.`,
      );
    }
    for (const [layer, values] of assignments) layer.setWeights(values);
    return { path, loadedLayers: loaded, randomLayers: random };
  } finally {
    tf.dispose(Object.values(decoded));
  }
}
