// Encoders that tap named nodes of an existing TF.js model: any graph or layers model.json the
// user imports, and (through the same machinery) the pretrained MobileNetV3 graph.
import * as tf from '@tensorflow/tfjs';
import { BadArgumentError, ModelError, errorMessage } from '../../shared/errors.js';
import { fileLoader, modelJsonPath } from '../model-io.js';
import {
  checkInputSize,
  type Encoder,
  type EncoderInfo,
  type EncoderOutput,
  type FeatureName,
} from './encoder.js';
import { readEncoderConfig, saveEncoderFolder } from './encoder-folder.js';

/** Which model node (graph) or layer (layers model) gives each feature map. */
export interface FeatureNodes {
  stride4?: string;
  stride8: string;
  stride16: string;
  /** A block halfway through stride 16 (FeatureName's stride16mid), where the model names one. */
  stride16mid?: string;
  /** A 2-D [B, D] node, or a 4-D map that is average-pooled; default: stride16, pooled. */
  embedding?: string;
}

/** The pixel range the model was trained on; images arrive as 0..1 and are scaled to it. */
export type InputRange = '0..1' | '0..255';

export interface ImportedEncoderOptions {
  /** model.json of a TF.js graph model or layers model. */
  modelPath: string;
  nodes: FeatureNodes;
  inputRange?: InputRange;
  /** Side the nodes are checked at and the encoder is reported for; default: the model's own
   * fixed input size, else 224. */
  inputSize?: number;
}

/** What `save` writes to encoder.json; `loadEncoder` dispatches on `kind`. */
export interface TappedEncoderConfig {
  kind: string;
  inputSize: number;
  channels: EncoderInfo['channels'];
  embeddingSize: number;
  options: {
    nodes: FeatureNodes;
    inputRange: InputRange;
    /** Where the weights first came from, for the model page; the folder holds its own copy. */
    source: string;
  };
}

/** A loaded model with what the tapping code needs to know about it. */
export type TappableModel =
  | {
      format: 'graph';
      model: tf.GraphModel;
      /** Names of the graph's computing nodes, shallowest first (weights and inputs left out). */
      nodeNames: string[];
      /** The nodes worth suggesting as taps: those not merely inside an elementwise chain. */
      suggestable: Set<string>;
      /** Fixed square input side declared in the file, if any. */
      declaredSize: number | undefined;
    }
  | { format: 'layers'; model: tf.LayersModel; declaredSize: number | undefined };

const IMPORTED_KIND = 'imported';
/** The feature maps an encoder may lack (EncoderOutput['features']). */
const OPTIONAL_MAPS = ['stride4', 'stride16mid'] as const;
const FEATURE_STRIDES: Record<FeatureName, number> = {
  stride4: 4,
  stride8: 8,
  stride16: 16,
  stride16mid: 16,
};
const DEFAULT_INPUT_SIZE = 224;
// Candidate nodes are probed in batches; a batch that fails (a dynamic op, a fixed reshape) is
// split until the offending nodes are isolated and skipped.
const PROBE_BATCH = 48;
const CANDIDATES_PER_STRIDE = 6;

interface GraphNodeJson {
  name: string;
  op: string;
  input?: string[];
  attr?: { shape?: { shape?: { dim?: { size?: string | number }[] } } };
}

/**
 * Loads a TF.js model.json of either format. Graph models get their image placeholder relaxed to
 * [-1, -1, -1, C] in memory: exported graphs often pin batch 1 and one size although the network
 * is fully convolutional, and the executor would otherwise refuse every other shape.
 */
export async function openTappableModel(
  path: string,
  loader: tf.io.IOHandler = fileLoader(path),
): Promise<TappableModel> {
  const artifacts = await loader.load!();
  const topology = artifacts.modelTopology as { node?: GraphNodeJson[] } | undefined;
  const isGraph = artifacts.format === 'graph-model' || Array.isArray(topology?.node);
  try {
    if (isGraph) {
      const nodes = topology?.node ?? [];
      const placeholders = nodes.filter((n) => n.op === 'Placeholder');
      if (placeholders.length !== 1) {
        throw new ModelError(
          `${path} has ${placeholders.length} inputs (${placeholders.map((p) => p.name).join(', ')}); ` +
            `an encoder needs a model with exactly one image input.`,
        );
      }
      const dims = placeholders[0]!.attr?.shape?.shape?.dim;
      const declared = dims?.length === 4 ? Number(dims[1]!.size) : NaN;
      if (dims?.length === 4) {
        dims[0]!.size = '-1';
        dims[1]!.size = '-1';
        dims[2]!.size = '-1';
      }
      // The signature repeats the pinned shape; without it the executor reads the placeholder.
      delete artifacts.signature;
      const model = await tf.loadGraphModel({ load: async () => artifacts });
      const computing = nodes.filter((n) => n.op !== 'Const' && n.op !== 'Placeholder');
      return {
        format: 'graph',
        model,
        nodeNames: byDepth(computing),
        suggestable: blockBoundaries(computing),
        declaredSize: declared > 0 ? declared : undefined,
      };
    }
    const model = await tf.loadLayersModel({ load: async () => artifacts });
    if (model.inputs.length !== 1 || model.inputs[0]!.shape.length !== 4) {
      model.dispose();
      throw new ModelError(
        `${path} does not take one image input [batch, height, width, channels].`,
      );
    }
    const side = model.inputs[0]!.shape[1];
    return { format: 'layers', model, declaredSize: typeof side === 'number' ? side : undefined };
  } catch (error) {
    if (error instanceof ModelError) throw error;
    throw new ModelError(
      `Cannot load ${path} as a TF.js ${isGraph ? 'graph' : 'layers'} model: ${errorMessage(error)}. ` +
        `Convert it with tensorflowjs_converter, and register any custom layers it uses.`,
      { cause: error },
    );
  }
}

/**
 * An encoder that runs a model and returns chosen intermediate nodes as the feature maps. The
 * model's weights live as long as the encoder; `dispose` releases them.
 */
export class TappedModelEncoder implements Encoder {
  readonly info: EncoderInfo;
  readonly config: TappedEncoderConfig;
  private readonly source: TappableModel;
  /** For layers models: a model over the same layers whose outputs are the tapped layers. */
  private readonly taps: tf.LayersModel | undefined;
  private readonly outputNames: string[];

  constructor(source: TappableModel, config: TappedEncoderConfig) {
    this.source = source;
    this.config = config;
    this.info = {
      kind: config.kind,
      inputSize: config.inputSize,
      channels: config.channels,
      embeddingSize: config.embeddingSize,
    };
    const { nodes } = config.options;
    this.outputNames = [
      nodes.stride8,
      nodes.stride16,
      ...OPTIONAL_MAPS.flatMap((name) => (nodes[name] ? [nodes[name]] : [])),
    ];
    if (nodes.embedding) this.outputNames.push(nodes.embedding);
    this.taps =
      source.format === 'layers'
        ? tf.model({
            inputs: source.model.inputs,
            outputs: this.outputNames.map((n) => layerOutput(source.model, n)),
          })
        : undefined;
  }

  encode(images: tf.Tensor4D, options: { training?: boolean } = {}): EncoderOutput {
    if (images.rank !== 4 || images.shape[3] !== 3) {
      throw new BadArgumentError(
        `The ${this.info.kind} encoder needs images [batch, height, width, 3]; got [${images.shape}].`,
      );
    }
    const { nodes, inputRange } = this.config.options;
    return tf.tidy(() => {
      const input = inputRange === '0..255' ? tf.mul(images, 255) : images;
      const outputs =
        this.source.format === 'graph'
          ? (this.source.model.execute(input, this.outputNames) as tf.Tensor[])
          : (this.taps!.apply(input, { training: options.training ?? false }) as tf.Tensor[]);
      const byName = new Map(this.outputNames.map((name, i) => [name, outputs[i]!]));
      const stride16 = byName.get(nodes.stride16) as tf.Tensor4D;
      const embeddingSource = nodes.embedding ? byName.get(nodes.embedding)! : stride16;
      const embedding = (
        embeddingSource.rank === 4 ? tf.mean(embeddingSource, [1, 2]) : embeddingSource
      ) as tf.Tensor2D;
      const features: EncoderOutput['features'] = {
        stride8: byName.get(nodes.stride8) as tf.Tensor4D,
        stride16,
      };
      for (const name of OPTIONAL_MAPS) {
        const node = nodes[name];
        if (node) features[name] = byName.get(node) as tf.Tensor4D;
      }
      return { features, embedding } as unknown as tf.TensorContainer;
    }) as unknown as EncoderOutput;
  }

  /** A graph model is frozen; an imported layers model can be fine-tuned up to its taps. */
  trainableVariables(): tf.Variable[] {
    return this.taps ? this.taps.trainableWeights.map((w) => w.read() as tf.Variable) : [];
  }

  async save(dir: string): Promise<void> {
    // The whole source model is written, not only the tapped part, so a saved folder loads
    // and validates exactly like the file it came from.
    await saveEncoderFolder(dir, this.source.model, this.config);
  }

  dispose(): void {
    // The taps model shares the source's layers; disposing the source releases them once.
    this.source.model.dispose();
  }
}

/**
 * Runs the model once at `inputSize` to check every named node: it must exist, feature maps
 * must be 4-D at their stated stride, the embedding 2-D or 4-D. Returns the config to build the
 * encoder from; throws a ModelError that lists usable nodes per stride otherwise.
 */
function checkFeatureNodes(
  source: TappableModel,
  spec: {
    kind: string;
    nodes: FeatureNodes;
    inputRange: InputRange;
    inputSize: number;
    sourceLabel: string;
  },
): TappedEncoderConfig {
  const { nodes, inputSize } = spec;
  checkInputSize('Input size', inputSize, 16);
  if (
    source.declaredSize !== undefined &&
    source.format === 'layers' &&
    source.declaredSize !== inputSize
  ) {
    throw new BadArgumentError(
      `This model takes ${source.declaredSize}×${source.declaredSize} images; set the input size to ${source.declaredSize}.`,
    );
  }
  const problems: string[] = [];
  const named = Object.entries(nodes).filter(
    ([, node]) => typeof node === 'string' && node.length > 0,
  ) as [keyof FeatureNodes, string][];
  for (const [role, node] of named) {
    if (!nodeExists(source, node)) problems.push(`${role}: '${node}' is not a node of this model`);
  }
  const channels: EncoderInfo['channels'] = {};
  let embeddingSize = 0;
  if (problems.length === 0) {
    const shapes = probeShapes(
      source,
      named.map(([, node]) => node),
      inputSize,
    );
    for (const [role, node] of named) {
      const shape = shapes.get(node);
      if (!shape) {
        problems.push(`${role}: '${node}' could not be computed from the image input`);
      } else if (role === 'embedding') {
        if (shape.length !== 2 && shape.length !== 4) {
          problems.push(`embedding: '${node}' has shape [${shape}], not [batch, D] or a 4-D map`);
        } else {
          embeddingSize = shape[shape.length - 1]!;
        }
      } else if (shape.length !== 4) {
        problems.push(`${role}: '${node}' has shape [${shape}], not a 4-D feature map`);
      } else {
        // Within a quarter of the stride: unpadded convolutions (InceptionV3's) trim a few
        // pixels from each map, 25 × 25 rather than 28 × 28 at stride 8 from 224 px.
        const stride = inputSize / shape[1]!;
        if (Math.abs(stride - FEATURE_STRIDES[role]) > FEATURE_STRIDES[role] / 4) {
          problems.push(
            `${role}: '${node}' is at stride ${Number(stride.toFixed(1))} (${shape[1]}×${shape[2]} from ${inputSize} px), not ${FEATURE_STRIDES[role]}`,
          );
        }
        channels[role] = shape[3]!;
      }
    }
  }
  if (problems.length > 0) {
    throw new ModelError(
      `The feature nodes do not fit ${spec.sourceLabel}:\n  ${problems.join('\n  ')}\n` +
        `Nodes with 4-D outputs at ${inputSize} px, by stride (the deepest of each stride first):\n` +
        describeCandidates(source, inputSize),
    );
  }
  return {
    kind: spec.kind,
    inputSize,
    channels,
    embeddingSize: nodes.embedding ? embeddingSize : channels.stride16!,
    options: { nodes, inputRange: spec.inputRange, source: spec.sourceLabel },
  };
}

/**
 * The encoder over `source` once its nodes pass checkFeatureNodes; the model is freed if they
 * do not.
 */
export function tappedEncoder(
  source: TappableModel,
  spec: Parameters<typeof checkFeatureNodes>[1],
): TappedModelEncoder {
  try {
    return new TappedModelEncoder(source, checkFeatureNodes(source, spec));
  } catch (error) {
    source.model.dispose();
    throw error;
  }
}

/** Imports a user's TF.js model as an encoder, checking the feature nodes they named. */
export async function createImportedEncoder(
  options: ImportedEncoderOptions,
): Promise<TappedModelEncoder> {
  if (!options.nodes?.stride8 || !options.nodes?.stride16) {
    throw new BadArgumentError(
      'Name at least the stride-8 and stride-16 feature nodes of the imported model.',
    );
  }
  const inputRange = options.inputRange ?? '0..1';
  if (inputRange !== '0..1' && inputRange !== '0..255') {
    throw new BadArgumentError(
      `Input range must be '0..1' or '0..255'; got '${String(inputRange)}'.`,
    );
  }
  const source = await openTappableModel(options.modelPath);
  return tappedEncoder(source, {
    kind: IMPORTED_KIND,
    nodes: options.nodes,
    inputRange,
    inputSize: options.inputSize ?? source.declaredSize ?? DEFAULT_INPUT_SIZE,
    sourceLabel: options.modelPath,
  });
}

/** Loads a tapped-model encoder folder written by `save`, checking it is of `kind`. */
export async function loadTappedEncoder(dir: string, kind: string): Promise<TappedModelEncoder> {
  const config = await readEncoderConfig<TappedEncoderConfig>(dir, kind, {
    encoder: 'the encoder',
    expected: `'${kind}'`,
  });
  // Re-checked on load: a folder edited by hand or a model file swapped underneath fails here
  // with the candidate list, not later inside a detector.
  return tappedEncoder(await openTappableModel(modelJsonPath(dir)), {
    kind,
    nodes: config.options.nodes,
    inputRange: config.options.inputRange,
    inputSize: config.inputSize,
    sourceLabel: config.options.source,
  });
}

export function loadImportedEncoder(dir: string): Promise<TappedModelEncoder> {
  return loadTappedEncoder(dir, IMPORTED_KIND);
}

// Ops that map a tensor to one of the same shape value by value; a node whose only consumers are
// these sits inside an activation or normalisation chain (hard-swish's add/relu6/mul, a folded
// batch norm before its residual add) and would only clutter the list of suggested taps.
const ELEMENTWISE_OPS = new Set([
  'Abs',
  'Add',
  'AddV2',
  'BiasAdd',
  'Cast',
  'ClipByValue',
  'Div',
  'Elu',
  'Exp',
  'FusedBatchNorm',
  'FusedBatchNormV3',
  'Identity',
  'LeakyRelu',
  'Log',
  'Maximum',
  'Minimum',
  'Mul',
  'Neg',
  'Pow',
  'Prelu',
  'RealDiv',
  'Relu',
  'Relu6',
  'Rsqrt',
  'Selu',
  'Sigmoid',
  'Softplus',
  'Sqrt',
  'Square',
  'SquaredDifference',
  'Sub',
  'Tanh',
]);

/** Nodes with at least one consumer that is not elementwise (or none at all): block outputs. */
function blockBoundaries(nodes: GraphNodeJson[]): Set<string> {
  const consumers = new Map<string, string[]>();
  for (const node of nodes) {
    for (const input of node.input ?? []) {
      const name = input.replace(/^\^/, '').replace(/:\d+$/, '');
      consumers.set(name, [...(consumers.get(name) ?? []), node.op]);
    }
  }
  return new Set(
    nodes
      .filter((n) => {
        const ops = consumers.get(n.name) ?? [];
        return ops.length === 0 || ops.some((op) => !ELEMENTWISE_OPS.has(op));
      })
      .map((n) => n.name),
  );
}

/** Node names sorted by their longest path from the input, so "deepest" means something. */
function byDepth(nodes: GraphNodeJson[]): string[] {
  const inputs = new Map(
    nodes.map((n) => [
      n.name,
      (n.input ?? []).map((i) => i.replace(/^\^/, '').replace(/:\d+$/, '')),
    ]),
  );
  const depth = new Map<string, number>();
  const depthOf = (name: string): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    depth.set(name, 0); // guards against cycles (control-flow loops)
    const d =
      1 + Math.max(0, ...(inputs.get(name) ?? []).filter((i) => inputs.has(i)).map(depthOf));
    depth.set(name, d);
    return d;
  };
  return nodes
    .map((n, order) => ({ name: n.name, depth: depthOf(n.name), order }))
    .sort((a, b) => a.depth - b.depth || a.order - b.order)
    .map((n) => n.name);
}

function nodeExists(source: TappableModel, node: string): boolean {
  if (source.format === 'graph') {
    // 'name:1' addresses a node's second output.
    const base = node.replace(/:\d+$/, '');
    return source.nodeNames.includes(base);
  }
  return source.model.layers.some((layer) => layer.name === node);
}

function layerOutput(model: tf.LayersModel, name: string): tf.SymbolicTensor {
  const output = model.getLayer(name).output;
  if (Array.isArray(output))
    throw new ModelError(`Layer '${name}' has several outputs; name a single-output layer.`);
  return output;
}

/** Output shapes of `nodes` for one image of `inputSize`; nodes that cannot run are absent. */
function probeShapes(
  source: TappableModel,
  nodes: string[],
  inputSize: number,
): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const run = (batch: string[]): void => {
    if (batch.length === 0) return;
    try {
      tf.tidy(() => {
        const image = tf.fill([1, inputSize, inputSize, 3], 0.5);
        let outputs: tf.Tensor[];
        if (source.format === 'graph') {
          outputs = source.model.execute(image, batch) as tf.Tensor[];
          if (!Array.isArray(outputs)) outputs = [outputs];
        } else {
          const probe = tf.model({
            inputs: source.model.inputs,
            outputs: batch.map((n) => layerOutput(source.model, n)),
          });
          const result = probe.predict(image);
          outputs = Array.isArray(result) ? result : [result];
        }
        batch.forEach((node, i) => shapes.set(node, outputs[i]!.shape));
      });
    } catch {
      if (batch.length === 1) return;
      const half = Math.ceil(batch.length / 2);
      run(batch.slice(0, half));
      run(batch.slice(half));
    }
  };
  for (let i = 0; i < nodes.length; i += PROBE_BATCH) run(nodes.slice(i, i + PROBE_BATCH));
  return shapes;
}

/** Lists the model's 4-D outputs grouped by stride, for the error that asks the user to choose. */
function describeCandidates(source: TappableModel, inputSize: number): string {
  const all =
    source.format === 'graph'
      ? source.nodeNames.filter((name) => source.suggestable.has(name))
      : source.model.layers
          .filter((layer) => {
            try {
              return !Array.isArray(layer.output) && layer.output.shape.length === 4;
            } catch {
              return false; // a layer used at several places has no single output
            }
          })
          .map((layer) => layer.name);
  const shapes = probeShapes(source, all, inputSize);
  const byStride = new Map<number, string[]>();
  for (const node of all) {
    const shape = shapes.get(node);
    // 1×1 maps (squeeze-excite pools, global pools) are not patch features.
    if (!shape || shape.length !== 4 || shape[1]! < 2 || shape[2]! < 2) continue;
    const stride = Math.round(inputSize / shape[1]!);
    const list = byStride.get(stride) ?? [];
    list.push(`${node} (${shape[3]} ch)`);
    byStride.set(stride, list);
  }
  if (byStride.size === 0) return '  (none: the model produced no 4-D outputs from an image input)';
  return [...byStride.entries()]
    .sort(([a], [b]) => a - b)
    .map(([stride, list]) => {
      const shown = list.slice(-CANDIDATES_PER_STRIDE).reverse();
      const more = list.length > shown.length ? ` … and ${list.length - shown.length} more` : '';
      return `  stride ${stride}: ${shown.join(', ')}${more}`;
    })
    .join('\n');
}
