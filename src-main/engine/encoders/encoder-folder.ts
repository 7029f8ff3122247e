// An encoder folder: the network's TF.js model files and encoder.json, which names the encoder's
// kind (registry.ts's loadEncoder dispatches on it) and the settings it was built with. The one
// way encoders write and read their folders.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ModelError, errorMessage } from '../../shared/errors.js';
import { fileLoader, fileSaver, modelJsonPath, writeFolderAtomically } from '../model-io.js';

export const ENCODER_CONFIG_FILE = 'encoder.json';

/** Writes the model and its config into `dir`, atomically. */
export async function saveEncoderFolder(
  dir: string,
  model: { save(handler: tf.io.IOHandler): Promise<unknown> },
  config: object,
): Promise<void> {
  await writeFolderAtomically(dir, async (tmp) => {
    await model.save(fileSaver(tmp));
    await writeFile(join(tmp, ENCODER_CONFIG_FILE), JSON.stringify(config, null, 2));
  });
}

/**
 * Reads a folder's encoder.json and checks that it holds an encoder of `kind`; `names` says in
 * the messages what was read (`the ResNet encoder`) and what was expected (`a ResNet encoder`).
 */
export async function readEncoderConfig<Config extends { kind: unknown }>(
  dir: string,
  kind: string,
  names: { encoder: string; expected: string },
): Promise<Config> {
  let config: Config;
  try {
    config = JSON.parse(await readFile(join(dir, ENCODER_CONFIG_FILE), 'utf8')) as Config;
  } catch (error) {
    throw new ModelError(`Cannot read ${names.encoder} in ${dir}: ${errorMessage(error)}`, {
      cause: error,
    });
  }
  if (config.kind !== kind) {
    throw new ModelError(`${dir} holds a '${String(config.kind)}' encoder, not ${names.expected}.`);
  }
  return config;
}

/** The layers model of an encoder folder. */
export function loadEncoderLayers(dir: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(fileLoader(modelJsonPath(dir)));
}
