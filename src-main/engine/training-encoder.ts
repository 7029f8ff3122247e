// The encoder a training run starts from, for the app's training task and `defectscope train`
// alike: the seed's VGG-16 for the baseline, a saved model's encoder for a classifier that
// continues from it, or a new encoder of a kind that can train that way.
import type { TrainMethod } from '../shared/dto.js';
import { BadArgumentError } from '../shared/errors.js';
import type { Encoder } from './encoders/encoder.js';
import { createEncoder, encoderRegistry, isEncoderKind } from './encoders/registry.js';
import { loadModel } from './model-files.js';

export interface TrainingEncoderRequest {
  method: TrainMethod;
  /** An encoder kind; by default resnet for SimCLR, mobilenetv3 otherwise. */
  encoder?: string | undefined;
  /** classifier: the model folder whose encoder it starts from. */
  from?: string | undefined;
  /** baseline: VGG-16's first four blocks from this TF.js layers model.json (then frozen). */
  vggWeights?: string | undefined;
  /** baseline: VGG-16's channel multiplier (default 1; weight files need 1). */
  vggWidth?: number | undefined;
}

export async function trainingEncoder(
  request: TrainingEncoderRequest,
  size: number,
  seed: number,
): Promise<{ encoder: Encoder; parent?: string }> {
  const { method, encoder: kind, from, vggWeights } = request;
  if (method === 'baseline') {
    if (kind !== undefined || from !== undefined)
      throw new BadArgumentError(
        'The baseline is always VGG-16; leave out the encoder and the starting model.',
      );
    const encoder = await createEncoder('vgg16', {
      inputSize: size,
      width: request.vggWidth ?? 1,
      seed,
      // The seed paper freezes the ImageNet-initialised blocks 1-4; from scratch, all train.
      frozenBlocks: vggWeights ? 4 : 0,
      ...(vggWeights ? { weightsPath: vggWeights } : {}),
    });
    return { encoder };
  }
  if (from !== undefined) {
    if (method !== 'classifier')
      throw new BadArgumentError('Starting from a model is for the classifier.');
    if (kind !== undefined)
      throw new BadArgumentError('Give a starting model or an encoder, not both.');
    const model = await loadModel(from);
    model.head?.dispose();
    return { encoder: model.encoder, parent: from };
  }
  const chosen = kind ?? (method === 'simclr' ? 'resnet' : 'mobilenetv3');
  if (!isEncoderKind(chosen) || chosen === 'imported') {
    throw new BadArgumentError(
      `Encoder '${chosen}' is not one to train with. Choose resnet, mobilenetv3-trainable, mobilenetv3, inceptionv3 or vgg16.`,
    );
  }
  if (method === 'simclr' && !encoderRegistry[chosen].trainable) {
    throw new BadArgumentError(
      `SimCLR must update the encoder, and '${chosen}' is frozen. Use resnet or mobilenetv3-trainable.`,
    );
  }
  switch (chosen) {
    case 'resnet':
      if (size % 32 !== 0)
        throw new BadArgumentError(
          `The ResNet needs an input size that is a multiple of 32; got ${size}.`,
        );
      return { encoder: await createEncoder('resnet', { inputSize: size, seed }) };
    case 'vgg16':
      return { encoder: await createEncoder('vgg16', { inputSize: size, seed }) };
    default:
      return { encoder: await createEncoder(chosen, { inputSize: size }) };
  }
}
