// Caches one-class patch features of an MVTec-layout folder, so bench/one-class-offline.ts can
// score bank, seed and centring variants in minutes without running the encoder again. Per type
// it writes fit / val / test features at each scale (the split `defectscope eval` makes with
// --seed 1: a fifth of train/good held out) to <out>/<type>-<size>/<set>-<scale>.bin (+ .json).
// Usage: npx tsx bench/one-class-cache.ts <root> <types> [size=448] [scales=1,0.5] [out=/tmp/ocf]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { scanDataset } from '../src-main/data/importers/scan.js';
import { initBackend } from '../src-main/engine/backend.js';
import { decodedBatches } from '../src-main/engine/decoded-batches.js';
import {
  defaultPatchFeatures,
  patchFeatures,
} from '../src-main/engine/detectors/patch-features.js';
import { createEncoder } from '../src-main/engine/encoders/registry.js';
import { Rng } from '../src-main/shared/random.js';

const [root, typesText, sizeText = '448', scalesText = '1,0.5', out = '/tmp/ocf'] =
  process.argv.slice(2);
if (!root || !typesText) {
  console.error('usage: tsx bench/one-class-cache.ts <root> <types> [size] [scales] [out]');
  process.exit(2);
}
const size = Number(sizeText);
const scales = scalesText.split(',').map(Number);
await initBackend('wasm');
const encoder = await createEncoder('mobilenetv3', { inputSize: size });
for (const type of typesText.split(',')) {
  const { entries } = scanDataset(join(root, type), { layout: 'mvtec', objectType: type });
  const trainGood = entries.filter((e) => e.split === 'train' && e.label === 'good');
  const test = entries.filter((e) => e.split === 'test' && e.label !== null);
  const shuffled = new Rng(1).shuffle([...trainGood]);
  const held = Math.max(3, Math.round(0.2 * shuffled.length));
  const sets = { fit: shuffled.slice(held), val: shuffled.slice(0, held), test };
  const dir = join(out, `${type}-${size}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, list] of Object.entries(sets)) {
    const paths = list.map((e) => e.path);
    const labels = list.map((e) => (e.label === 'good' ? 0 : 1));
    for (const scale of scales) {
      const chunks: Float32Array[] = [];
      let shape: number[] = [];
      for await (const batch of decodedBatches(paths, size, { batchSize: 4 })) {
        // As PatchcoreDetector's scaledFeatures takes them, before any centring.
        const features = tf.tidy(() => {
          const [, h, w] = batch.images.shape;
          const input =
            scale === 1
              ? batch.images
              : tf.image.resizeBilinear(
                  batch.images,
                  [Math.round(h * scale), Math.round(w * scale)],
                  true,
                );
          return patchFeatures(encoder, input, defaultPatchFeatures);
        });
        shape = features.shape.slice(1);
        chunks.push((await features.data()) as Float32Array);
        features.dispose();
      }
      const all = new Float32Array(chunks.reduce((a, c) => a + c.length, 0));
      let offset = 0;
      for (const c of chunks) {
        all.set(c, offset);
        offset += c.length;
      }
      writeFileSync(join(dir, `${name}-${scale}.bin`), Buffer.from(all.buffer));
      writeFileSync(
        join(dir, `${name}-${scale}.json`),
        JSON.stringify({ shape: [paths.length, ...shape], labels, paths }),
      );
    }
  }
  console.error(`${type}: cached`);
}
process.exit(0);
