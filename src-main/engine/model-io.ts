// File IO for TF.js models without tfjs-node (whose file:// handler is not available on wasm or
// cpu): a loader and a saver over plain files, and an atomic folder write so a crash never
// leaves a half-written model where a reader could find it.
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ModelError, errorMessage } from '../shared/errors.js';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

/** An IOHandler that reads a TF.js model.json and its weight shards from disk. */
export function fileLoader(modelJsonPath: string): tf.io.IOHandler {
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(await readFile(modelJsonPath, 'utf8')) as tf.io.ModelJSON;
      } catch (error) {
        throw new ModelError(`Cannot read model ${modelJsonPath}: ${errorMessage(error)}`, {
          cause: error,
        });
      }
      const dir = dirname(modelJsonPath);
      const specs: tf.io.WeightsManifestEntry[] = [];
      const buffers: Buffer[] = [];
      for (const group of json.weightsManifest ?? []) {
        specs.push(...group.weights);
        for (const path of group.paths) buffers.push(await readFile(join(dir, path)));
      }
      const joined = Buffer.concat(buffers);
      return {
        modelTopology: json.modelTopology,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        ...(json.signature ? { signature: json.signature } : {}),
        ...(json.userDefinedMetadata ? { userDefinedMetadata: json.userDefinedMetadata } : {}),
        ...(json.trainingConfig ? { trainingConfig: json.trainingConfig } : {}),
        weightSpecs: specs,
        weightData: joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength),
      };
    },
  };
}

/** An IOHandler that writes model.json + one weights.bin into `dir` (which must exist). */
export function fileSaver(dir: string): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const weightData = artifacts.weightData
        ? tf.io.CompositeArrayBuffer.join(artifacts.weightData)
        : new ArrayBuffer(0);
      const json: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology!,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
        ...(artifacts.userDefinedMetadata
          ? { userDefinedMetadata: artifacts.userDefinedMetadata }
          : {}),
        ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
      };
      await writeFile(join(dir, MODEL_JSON), JSON.stringify(json));
      await writeFile(join(dir, WEIGHTS_BIN), Buffer.from(weightData));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
}

export function modelJsonPath(dir: string): string {
  return join(dir, MODEL_JSON);
}

/**
 * Writes a folder atomically: `fill` writes into a temporary sibling, which is then renamed onto
 * `dir` (replacing an older one). Readers see the old folder or the new one, never a mix.
 */
export async function writeFolderAtomically(
  dir: string,
  fill: (tmpDir: string) => Promise<void>,
): Promise<void> {
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  const tmp = join(parent, `.${basename(dir)}.tmp-${process.pid}-${Date.now()}`);
  const old = join(parent, `.${basename(dir)}.old-${process.pid}-${Date.now()}`);
  await mkdir(tmp);
  try {
    await fill(tmp);
    try {
      await rename(dir, old);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    await rename(tmp, dir);
    await rm(old, { recursive: true, force: true });
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
}
