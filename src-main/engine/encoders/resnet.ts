// A small ResNet-style encoder that SimCLR trains from scratch: a conv stem, four stages of basic
// residual blocks, and a dense embedding after global average pooling. Feature maps of stages 1–3
// feed the patch detectors; the embedding feeds SimCLR and the classifier head.
import * as tf from '@tensorflow/tfjs';
import { BadArgumentError } from '../../shared/errors.js';
import type { Encoder, EncoderInfo, EncoderOutput } from './encoder.js';
import { loadEncoderLayers, readEncoderConfig, saveEncoderFolder } from './encoder-folder.js';

export interface ResnetConfig {
  /** Square input side the encoder is built or trained for; any size divisible by 32 runs. */
  inputSize: number;
  /** Channels of the stem and of stages 1–4. */
  widths: readonly [number, number, number, number, number];
  /** Residual blocks per stage. */
  depths: readonly [number, number, number, number];
  /**
   * Stride of the stem convolution. 2 (default) puts stage 1 at stride 4, so the feature names
   * match the maps; 1 is the prototype's reference network (4× the compute at the same input),
   * whose stages then sit at half the stride their names say. Kept for benchmarking against it.
   */
  stemStride: 1 | 2;
  embeddingSize: number;
  /** Seed for the weight initialisers, for reproducible tests; random when absent. */
  seed?: number;
}

export const defaultResnetConfig: Readonly<ResnetConfig> = {
  inputSize: 224,
  widths: [32, 32, 64, 128, 256],
  depths: [1, 1, 1, 1],
  stemStride: 2,
  embeddingSize: 128,
};

const KIND = 'resnet';
// Inputs arrive as RGB in 0..1; centring them around 0 with roughly unit spread keeps the first
// batch-norm statistics sane from the first step. Not ImageNet statistics: the net trains from
// scratch on factory images whose colours are nothing like ImageNet's.
const INPUT_SCALE = 4;
const INPUT_OFFSET = -2;
const BN_MOMENTUM = 0.9;
const STAGE_STRIDES = [1, 2, 2, 2] as const;

function hasProjection(model: tf.LayersModel, block: string): boolean {
  return model.layers.some((layer) => layer.name === `${block}_proj`);
}

interface SavedConfig {
  kind: typeof KIND;
  config: ResnetConfig;
}

type LayerArgs = ConstructorParameters<typeof tf.layers.Layer>[0];

/**
 * Batch normalisation over the channel (last) axis with the gradient written out by hand.
 * tfjs-layers' BatchNormalization differentiates moments() and batchNorm() op by op: about 23
 * full-size passes over the activation in the backward pass (tiles, broadcasts, the gradient of
 * the mean through every path). The closed form needs ~6:
 *
 *   dx = γ·rstd·(dy − mean(dy) − x̂·mean(dy·x̂)),  dγ = Σ dy·x̂,  dβ = Σ dy,  x̂ = (x − μ)·rstd
 *
 * written as dx = A·dy + B·x + C per channel. Same weights, names, update rule and ε as the
 * Keras layer, so it is a drop-in replacement; forward results are identical.
 */
export class FusedBatchNorm extends tf.layers.Layer {
  static readonly className = 'DefectScopeFusedBatchNorm';
  private readonly momentum: number;
  private readonly epsilon: number;
  private gamma!: tf.LayerVariable;
  private beta!: tf.LayerVariable;
  private movingMean!: tf.LayerVariable;
  private movingVariance!: tf.LayerVariable;

  constructor(args: LayerArgs & { momentum?: number; epsilon?: number }) {
    super(args);
    this.momentum = args.momentum ?? 0.99;
    this.epsilon = args.epsilon ?? 1e-3;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const channels = shape[shape.length - 1]!;
    this.gamma = this.addWeight('gamma', [channels], 'float32', tf.initializers.ones());
    this.beta = this.addWeight('beta', [channels], 'float32', tf.initializers.zeros());
    this.movingMean = this.addWeight(
      'moving_mean',
      [channels],
      'float32',
      tf.initializers.zeros(),
      undefined,
      false,
    );
    this.movingVariance = this.addWeight(
      'moving_variance',
      [channels],
      'float32',
      tf.initializers.ones(),
      undefined,
      false,
    );
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0]! : inputs) as tf.Tensor4D;
    const gamma = this.gamma.read() as tf.Tensor1D;
    const beta = this.beta.read() as tf.Tensor1D;
    if (!kwargs.training) {
      return tf.batchNorm(
        x,
        this.movingMean.read() as tf.Tensor1D,
        this.movingVariance.read() as tf.Tensor1D,
        beta,
        gamma,
        this.epsilon,
      );
    }
    const stats: tf.Tensor1D[] = [];
    const y = batchNormInTraining(x, gamma, beta, this.epsilon, stats);
    const [mean, variance] = stats as [tf.Tensor1D, tf.Tensor1D];
    try {
      tf.tidy(() => {
        const decay = 1 - this.momentum;
        const update = (variable: tf.LayerVariable, value: tf.Tensor1D) =>
          variable.write(tf.sub(variable.read(), tf.mul(tf.sub(variable.read(), value), decay)));
        update(this.movingMean, mean);
        update(this.movingVariance, variance);
      });
    } finally {
      tf.dispose([mean, variance]);
    }
    return y;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), momentum: this.momentum, epsilon: this.epsilon };
  }
}
tf.serialization.registerClass(FusedBatchNorm);

/**
 * Normalises `x` with its own batch statistics; pushes the (kept) mean and variance onto `stats`
 * for the moving averages — the caller disposes them.
 */
function batchNormInTraining(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
  stats: tf.Tensor1D[],
): tf.Tensor4D {
  const axes = [0, 1, 2];
  const normalise = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, g, b] = args as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
    const save = args[3] as tf.GradSaveFunc;
    const mean = tf.mean(input, axes) as tf.Tensor1D;
    const variance = tf.mean(tf.squaredDifference(input, mean), axes) as tf.Tensor1D;
    stats.push(tf.keep(mean), tf.keep(variance));
    const rstd = tf.rsqrt(tf.add(variance, epsilon)) as tf.Tensor1D;
    save([input, mean, rstd, g]);
    return {
      value: tf.batchNorm(input, mean, variance, b, g, epsilon),
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
        const [xs, mu, r, gm] = saved as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
        const n = xs.shape[0] * xs.shape[1] * xs.shape[2];
        const sumDy = tf.sum(dy, axes) as tf.Tensor1D;
        const sumDyX = tf.sum(tf.mul(dy, xs), axes) as tf.Tensor1D;
        // Σ dy·x̂ = rstd·(Σ dy·x − μ·Σ dy), all [C]-sized from here on.
        const dGamma = tf.mul(r, tf.sub(sumDyX, tf.mul(mu, sumDy))) as tf.Tensor1D;
        const a = tf.mul(gm, r);
        const bCoef = tf.neg(tf.div(tf.mul(tf.mul(a, r), dGamma), n));
        const c = tf.sub(tf.neg(tf.div(tf.mul(a, sumDy), n)), tf.mul(bCoef, mu));
        const dx = tf.add(tf.add(tf.mul(dy, a), tf.mul(xs, bCoef)), c);
        return [dx, dGamma, sumDy];
      },
    };
  });
  return normalise(x, gamma, beta) as tf.Tensor4D;
}

/** Encoder over a tfjs-layers model with four outputs: stride4, stride8, stride16, embedding. */
export class ResnetEncoder implements Encoder {
  readonly info: EncoderInfo;
  readonly config: ResnetConfig;
  /** The underlying layers model, for trainers that need more than `encode` (e.g. summaries). */
  readonly model: tf.LayersModel;

  constructor(model: tf.LayersModel, config: ResnetConfig) {
    this.model = model;
    this.config = config;
    this.info = {
      kind: KIND,
      inputSize: config.inputSize,
      channels: {
        stride4: config.widths[1],
        stride8: config.widths[2],
        stride16: config.widths[3],
      },
      embeddingSize: config.embeddingSize,
    };
  }

  encode(images: tf.Tensor4D, options: { training?: boolean } = {}): EncoderOutput {
    if (images.rank !== 4 || images.shape[3] !== 3) {
      throw new BadArgumentError(
        `The ResNet encoder needs images [batch, height, width, 3]; got [${images.shape}].`,
      );
    }
    const [stride4, stride8, stride16, embedding] = options.training
      ? (this.model.apply(images, { training: true }) as [
          tf.Tensor4D,
          tf.Tensor4D,
          tf.Tensor4D,
          tf.Tensor2D,
        ])
      : this.inferFolded(images);
    return { features: { stride4, stride8, stride16 }, embedding };
  }

  /**
   * The inference forward pass with each batch norm folded into the convolution before it
   * (kernel × γ/σ, bias β − μ·γ/σ) and the ReLU fused into the same kernel. Same results as the
   * layers model in inference mode; on wasm the separate batch-norm and ReLU kernels were a third
   * of inference time. The folded weights are recomputed each call (a few small ops), so they
   * can never go stale after training.
   */
  private inferFolded(images: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor2D] {
    return tf.tidy(() => {
      const weights = (name: string) => this.model.getLayer(name).getWeights();
      const convBn = (
        x: tf.Tensor4D,
        conv: string,
        bn: string,
        stride: number,
        activation: 'relu' | 'linear',
      ): tf.Tensor4D => {
        const [kernel] = weights(conv) as [tf.Tensor4D];
        const [gamma, beta, mean, variance] = weights(bn) as tf.Tensor1D[];
        const epsilon = this.model.getLayer(bn).getConfig().epsilon as number;
        const scale = tf.mul(gamma!, tf.rsqrt(tf.add(variance!, epsilon)));
        return tf.fused.conv2d({
          x,
          filter: tf.mul(kernel, scale) as tf.Tensor4D,
          strides: stride,
          pad: 'same',
          bias: tf.sub(beta!, tf.mul(mean!, scale)),
          activation,
        });
      };
      let x = tf.add(tf.mul(images, INPUT_SCALE), INPUT_OFFSET) as tf.Tensor4D;
      x = convBn(x, 'stem_conv', 'stem_bn', this.config.stemStride, 'relu');
      x = tf.maxPool(x, 3, 2, 'same');
      const stageOutputs: tf.Tensor4D[] = [];
      for (let stage = 0; stage < 4; stage++) {
        for (let b = 0; b < this.config.depths[stage]!; b++) {
          const name = `stage${stage + 1}_block${b + 1}`;
          const stride = b === 0 ? STAGE_STRIDES[stage]! : 1;
          const y = convBn(
            convBn(x, `${name}_conv1`, `${name}_bn1`, stride, 'relu'),
            `${name}_conv2`,
            `${name}_bn2`,
            1,
            'linear',
          );
          const shortcut = hasProjection(this.model, name)
            ? convBn(x, `${name}_proj`, `${name}_proj_bn`, stride, 'linear')
            : x;
          x = tf.relu(tf.add(y, shortcut)) as tf.Tensor4D;
        }
        stageOutputs.push(x);
      }
      const [kernel, bias] = weights('embedding') as [tf.Tensor2D, tf.Tensor1D];
      const embedding = tf.add(tf.matMul(tf.mean(x, [1, 2]) as tf.Tensor2D, kernel), bias);
      return [stageOutputs[0]!, stageOutputs[1]!, stageOutputs[2]!, embedding as tf.Tensor2D];
    });
  }

  trainableVariables(): tf.Variable[] {
    return this.model.trainableWeights.map((w) => w.read() as tf.Variable);
  }

  async save(dir: string): Promise<void> {
    const saved: SavedConfig = { kind: KIND, config: this.config };
    await saveEncoderFolder(dir, this.model, saved);
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** Builds a freshly initialised encoder; fields left out take `defaultResnetConfig`'s values. */
export function createResnetEncoder(options: Partial<ResnetConfig> = {}): ResnetEncoder {
  const config: ResnetConfig = { ...defaultResnetConfig, ...options };
  validate(config);
  return new ResnetEncoder(buildResnetModel(config), config);
}

/** Loads an encoder written by `ResnetEncoder.save`. */
export async function loadResnetEncoder(dir: string): Promise<ResnetEncoder> {
  const saved = await readEncoderConfig<SavedConfig>(dir, KIND, {
    encoder: 'the ResNet encoder',
    expected: 'a ResNet encoder',
  });
  const model = await loadEncoderLayers(dir);
  return new ResnetEncoder(model, saved.config);
}

function validate(config: ResnetConfig): void {
  const positive = (n: number): boolean => Number.isInteger(n) && n > 0;
  if (!positive(config.inputSize) || config.inputSize % 32 !== 0) {
    throw new BadArgumentError(
      `ResNet input size must be a positive multiple of 32; got ${config.inputSize}.`,
    );
  }
  if (config.widths.length !== 5 || !config.widths.every(positive)) {
    throw new BadArgumentError(`ResNet widths must be five positive integers (stem + 4 stages).`);
  }
  if (config.depths.length !== 4 || !config.depths.every(positive)) {
    throw new BadArgumentError(`ResNet depths must be four positive integers (blocks per stage).`);
  }
  if (config.stemStride !== 1 && config.stemStride !== 2) {
    throw new BadArgumentError(
      `ResNet stem stride must be 1 or 2; got ${String(config.stemStride)}.`,
    );
  }
  if (!positive(config.embeddingSize)) {
    throw new BadArgumentError(`ResNet embedding size must be a positive integer.`);
  }
}

function buildResnetModel(config: ResnetConfig): tf.LayersModel {
  // Each initialiser gets its own seed so layers differ while the whole net stays reproducible.
  let seedCounter = config.seed;
  const heNormal = (): ReturnType<typeof tf.initializers.heNormal> =>
    tf.initializers.heNormal(seedCounter === undefined ? {} : { seed: seedCounter++ });

  const conv = (
    x: tf.SymbolicTensor,
    filters: number,
    kernel: number,
    stride: number,
    name: string,
  ) =>
    tf.layers
      .conv2d({
        filters,
        kernelSize: kernel,
        strides: stride,
        padding: 'same',
        useBias: false,
        kernelInitializer: heNormal(),
        name,
      })
      .apply(x) as tf.SymbolicTensor;
  const bn = (x: tf.SymbolicTensor, name: string) =>
    new FusedBatchNorm({ momentum: BN_MOMENTUM, name }).apply(x) as tf.SymbolicTensor;
  const relu = (x: tf.SymbolicTensor, name: string) =>
    tf.layers.reLU({ name }).apply(x) as tf.SymbolicTensor;

  const block = (
    x: tf.SymbolicTensor,
    filters: number,
    stride: number,
    name: string,
  ): tf.SymbolicTensor => {
    const inChannels = x.shape[3];
    let y = relu(bn(conv(x, filters, 3, stride, `${name}_conv1`), `${name}_bn1`), `${name}_relu1`);
    y = bn(conv(y, filters, 3, 1, `${name}_conv2`), `${name}_bn2`);
    const shortcut =
      stride === 1 && inChannels === filters
        ? x
        : bn(conv(x, filters, 1, stride, `${name}_proj`), `${name}_proj_bn`);
    const sum = tf.layers.add({ name: `${name}_add` }).apply([y, shortcut]) as tf.SymbolicTensor;
    return relu(sum, `${name}_out`);
  };

  // Spatial size left open: the net is fully convolutional up to the pooled embedding, so one
  // trained at 64 px encodes 224 px images too.
  const input = tf.input({ shape: [null, null, 3], name: 'images' });
  let x = tf.layers
    .rescaling({ scale: INPUT_SCALE, offset: INPUT_OFFSET, name: 'normalise' })
    .apply(input) as tf.SymbolicTensor;
  x = relu(
    bn(conv(x, config.widths[0], 3, config.stemStride, 'stem_conv'), 'stem_bn'),
    'stem_relu',
  );
  x = tf.layers
    .maxPooling2d({ poolSize: 3, strides: 2, padding: 'same', name: 'stem_pool' })
    .apply(x) as tf.SymbolicTensor;

  const stageOutputs: tf.SymbolicTensor[] = [];
  const stageStrides = STAGE_STRIDES;
  for (let stage = 0; stage < 4; stage++) {
    for (let b = 0; b < config.depths[stage]!; b++) {
      x = block(
        x,
        config.widths[stage + 1]!,
        b === 0 ? stageStrides[stage]! : 1,
        `stage${stage + 1}_block${b + 1}`,
      );
    }
    stageOutputs.push(x);
  }
  const pooled = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tf.SymbolicTensor;
  const embedding = tf.layers
    .dense({
      units: config.embeddingSize,
      kernelInitializer: tf.initializers.glorotUniform(
        seedCounter === undefined ? {} : { seed: seedCounter++ },
      ),
      name: 'embedding',
    })
    .apply(pooled) as tf.SymbolicTensor;

  return tf.model({
    inputs: input,
    outputs: [stageOutputs[0]!, stageOutputs[1]!, stageOutputs[2]!, embedding],
    name: 'resnet_encoder',
  });
}

/** Forward multiply-adds ×2 per image at `size` px, counting convolutions and the dense layer. */
export function resnetForwardGflop(config: ResnetConfig, size: number): number {
  let flops = 0;
  let side = Math.ceil(size / config.stemStride);
  flops += 2 * side * side * 9 * 3 * config.widths[0];
  side = Math.ceil(side / 2); // stem maxpool
  let channels = config.widths[0];
  const stageStrides = [1, 2, 2, 2];
  for (let stage = 0; stage < 4; stage++) {
    const filters = config.widths[stage + 1]!;
    for (let b = 0; b < config.depths[stage]!; b++) {
      const stride = b === 0 ? stageStrides[stage]! : 1;
      const out = Math.ceil(side / stride);
      flops += 2 * out * out * 9 * channels * filters; // conv1
      flops += 2 * out * out * 9 * filters * filters; // conv2
      if (stride !== 1 || channels !== filters) flops += 2 * out * out * channels * filters; // projection
      side = out;
      channels = filters;
    }
  }
  flops += 2 * channels * config.embeddingSize;
  return flops / 1e9;
}
