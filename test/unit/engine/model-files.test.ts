// Model folders: saved on one backend and loaded on the other (cpu ↔ wasm, in a child process)
// they give the same embeddings and scores; a broken save leaves the old model in place.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src-main/engine/backend.js';
import type { Encoder } from '../../../src-main/engine/encoders/encoder.js';
import {
  loadModel,
  readManifest,
  saveModel,
  standardPreprocessing,
} from '../../../src-main/engine/model-files.js';
import { ModelError } from '../../../src-main/shared/errors.js';
import { buildModel, scoreModel, type PeerScores } from '../../fixtures/model-files-peer.js';

const peer = join(import.meta.dirname, '../../fixtures/model-files-peer.ts');
let dir: string;
let here: string;
let there: string;

/** Runs the peer script on the other backend. */
async function runPeer(mode: 'save' | 'load', modelDir: string): Promise<PeerScores> {
  const out = join(dir, `${mode}-${Date.now()}.json`);
  await promisify(execFile)(process.execPath, ['--import', 'tsx', peer, mode, modelDir, out], {
    env: { ...process.env, DEFECTSCOPE_BACKEND: there },
  });
  return JSON.parse(readFileSync(out, 'utf8')) as PeerScores;
}

function largestDifference(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
}

function expectSameScores(a: Omit<PeerScores, 'backend'>, b: Omit<PeerScores, 'backend'>) {
  expect(largestDifference(a.embeddings.flat(), b.embeddings.flat())).toBeLessThan(1e-5);
  expect(largestDifference(a.stride8, b.stride8)).toBeLessThan(1e-5);
  expect(largestDifference(a.defectProbabilities, b.defectProbabilities)).toBeLessThan(1e-5);
}

beforeAll(async () => {
  // This process runs one backend and the peer the other; wasm ↔ cpu either way round.
  here = (await initBackend(process.env.DEFECTSCOPE_BACKEND ?? 'wasm')).name;
  there = here === 'cpu' ? 'wasm' : 'cpu';
  dir = mkdtempSync(join(tmpdir(), 'defectscope-model-files-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('model files', () => {
  it('reload here what the other backend saved, with the same embeddings and scores', async () => {
    const modelDir = join(dir, 'saved-there');
    const theirs = await runPeer('save', modelDir);
    expect(theirs.backend).toBe(there);
    const before = tf.memory().numTensors;
    const model = await loadModel(modelDir);
    expect(model.manifest).toMatchObject({
      format: 1,
      kind: 'classifier',
      objectTypes: ['tile'],
      inputSize: 32,
      preprocessing: standardPreprocessing,
      metrics: { accuracy: 1 },
      encoder: { kind: 'resnet', embeddingSize: 16, dir: 'encoder' },
      head: { dir: 'head', outputs: 'defect-logit' },
    });
    expectSameScores(await scoreModel(model.encoder, model.head), theirs);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('save here what the other backend reloads, with the same embeddings and scores', async () => {
    const modelDir = join(dir, 'saved-here');
    const { encoder, head } = buildModel();
    const manifest = await saveModel(modelDir, {
      encoder,
      head,
      manifest: {
        kind: 'classifier',
        objectTypes: ['tile', 'bottle'],
        inputSize: 32,
        preprocessing: standardPreprocessing,
        metrics: {},
        parent: '/models/simclr-1',
      },
    });
    expect(await readManifest(modelDir)).toEqual(manifest);
    const ours = await scoreModel(encoder, head);
    const theirs = await runPeer('load', modelDir);
    expect(theirs.backend).toBe(there);
    expectSameScores(ours, theirs);
    encoder.dispose();
    head.dispose();
  });

  it('keeps the previous model when a save fails half-way', async () => {
    const modelDir = join(dir, 'kept');
    const { encoder, head } = buildModel();
    const manifest = {
      kind: 'simclr' as const,
      objectTypes: ['tile'],
      inputSize: 32,
      preprocessing: standardPreprocessing,
      metrics: {},
    };
    await saveModel(modelDir, { encoder, manifest });
    const failing: Encoder = {
      info: encoder.info,
      encode: (images) => encoder.encode(images),
      trainableVariables: () => [],
      save: async (target) => {
        await mkdir(target);
        await writeFile(join(target, 'model.json'), '{"half":');
        throw new Error('disk full');
      },
      dispose: () => undefined,
    };
    await expect(saveModel(modelDir, { encoder: failing, head, manifest })).rejects.toThrow(
      'disk full',
    );
    const still = await loadModel(modelDir);
    expect(still.head).toBeUndefined();
    still.dispose();
    // No temporary folders left beside it.
    expect((await readdir(dir)).filter((name) => name.includes('.tmp-'))).toEqual([]);
    encoder.dispose();
    head.dispose();
  });

  it('explains what is wrong with a folder that is not a model', async () => {
    const notModel = join(dir, 'photos');
    await mkdir(notModel);
    await expect(loadModel(notModel)).rejects.toThrow(ModelError);
    await expect(loadModel(notModel)).rejects.toThrow(/not a DefectScope model/);
    await writeFile(join(notModel, 'manifest.json'), JSON.stringify({ format: 7, kind: 'x' }));
    await expect(readManifest(notModel)).rejects.toThrow(/format 7.*unknown kind 'x'/);
  });
});
