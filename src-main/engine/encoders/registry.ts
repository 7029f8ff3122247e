// The explicit list of encoder kinds: how to build each one and how to load a saved one. Saved
// encoder folders name their kind in encoder.json, which `loadEncoder` dispatches on.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BadArgumentError, ModelError, errorMessage } from '../../shared/errors.js';
import type { Encoder } from './encoder.js';
import { ENCODER_CONFIG_FILE } from './encoder-folder.js';
import {
  createImportedEncoder,
  loadImportedEncoder,
  type ImportedEncoderOptions,
} from './imported.js';
import {
  createInceptionV3Encoder,
  loadInceptionV3Encoder,
  type InceptionV3Options,
} from './inceptionv3.js';
import {
  createMobilenetV3Encoder,
  loadMobilenetV3Encoder,
  type MobilenetV3Options,
} from './mobilenetv3.js';
import {
  createTrainableMobilenetV3Encoder,
  loadTrainableMobilenetV3Encoder,
  type TrainableMobilenetV3Options,
} from './mobilenetv3-trainable.js';
import { createResnetEncoder, loadResnetEncoder, type ResnetConfig } from './resnet.js';
import { createVggEncoder, loadVggEncoder, type VggOptions } from './vgg.js';

/** Options each kind is created with. */
export interface EncoderOptions {
  mobilenetv3: MobilenetV3Options;
  'mobilenetv3-trainable': TrainableMobilenetV3Options;
  resnet: Partial<ResnetConfig>;
  vgg16: Partial<VggOptions>;
  imported: ImportedEncoderOptions;
  inceptionv3: InceptionV3Options;
}

export type EncoderKind = keyof EncoderOptions;

export interface EncoderEntry<Options> {
  /** One line for pickers and `defectscope info`. */
  description: string;
  /** Whether `trainableVariables()` is non-empty, i.e. SimCLR can fine-tune it. */
  trainable: boolean;
  create(options: Options): Promise<Encoder>;
  load(dir: string): Promise<Encoder>;
}

export const encoderRegistry: { readonly [K in EncoderKind]: EncoderEntry<EncoderOptions[K]> } = {
  mobilenetv3: {
    description: 'MobileNetV3 pretrained on COCO (ships with the app, frozen)',
    trainable: false,
    create: (options) => createMobilenetV3Encoder(options),
    load: loadMobilenetV3Encoder,
  },
  'mobilenetv3-trainable': {
    description: 'MobileNetV3 initialised from the COCO weights, fine-tunable by SimCLR',
    trainable: true,
    create: (options) => createTrainableMobilenetV3Encoder(options),
    load: loadTrainableMobilenetV3Encoder,
  },
  resnet: {
    description: 'small ResNet trained from scratch by SimCLR',
    trainable: true,
    create: async (options) => createResnetEncoder(options),
    load: loadResnetEncoder,
  },
  vgg16: {
    description: "the seed paper's VGG-16 baseline, optionally initialised from a weights file",
    trainable: true,
    create: (options) => createVggEncoder(options),
    load: loadVggEncoder,
  },
  imported: {
    description: 'a TF.js model imported from a file, with named feature nodes',
    trainable: false,
    create: (options) => createImportedEncoder(options),
    load: loadImportedEncoder,
  },
  inceptionv3: {
    description: 'InceptionV3 from the nsfwjs package, ImageNet-initialised (frozen, ~7× slower)',
    trainable: false,
    create: (options) => createInceptionV3Encoder(options),
    load: loadInceptionV3Encoder,
  },
};

export const encoderKinds = Object.keys(encoderRegistry) as EncoderKind[];

export function isEncoderKind(value: string): value is EncoderKind {
  return Object.hasOwn(encoderRegistry, value);
}

/** Builds a new encoder of `kind`. */
export function createEncoder<K extends EncoderKind>(
  kind: K,
  options: EncoderOptions[K],
): Promise<Encoder> {
  if (!isEncoderKind(kind)) {
    throw new BadArgumentError(
      `Unknown encoder '${String(kind)}'. Choose one of: ${encoderKinds.join(', ')}.`,
    );
  }
  return encoderRegistry[kind].create(options);
}

/** Loads any encoder folder written by an encoder's `save`, whatever its kind. */
export async function loadEncoder(dir: string): Promise<Encoder> {
  let kind: unknown;
  try {
    kind = (
      JSON.parse(await readFile(join(dir, ENCODER_CONFIG_FILE), 'utf8')) as { kind?: unknown }
    ).kind;
  } catch (error) {
    throw new ModelError(
      `${dir} is not a saved encoder (cannot read its encoder.json: ${errorMessage(error)}).`,
      {
        cause: error,
      },
    );
  }
  if (typeof kind !== 'string' || !isEncoderKind(kind)) {
    throw new ModelError(
      `${dir} holds an encoder of kind '${String(kind)}', which this version does not know ` +
        `(it knows ${encoderKinds.join(', ')}). It may come from a newer DefectScope.`,
    );
  }
  return encoderRegistry[kind].load(dir);
}
