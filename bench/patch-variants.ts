// Compares patch-feature choices for the one-class detector on one object type of an MVTec-layout
// folder: fits on train/good, scores test/*, prints one JSON line with the image AUROC (image
// score = largest patch score, as the detector gives it), the AUROC with the largest value of the
// smoothed anomaly map as the score instead, and the AUROC of each defect kind against the good.
// Usage: npx tsx bench/patch-variants.ts <root> <type> <size> [layers=stride4,stride8] [neighbourhood=3] [maxBank=2048]
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { initBackend } from '../src-main/engine/backend.js';
import { decodedBatches } from '../src-main/engine/decoded-batches.js';
import { PatchcoreDetector } from '../src-main/engine/detectors/patchcore/patchcore.js';
import type { FeatureName } from '../src-main/engine/encoders/encoder.js';
import { createEncoder } from '../src-main/engine/encoders/registry.js';
import { auroc } from '../src-main/engine/metrics.js';

const [
  root,
  type,
  sizeText,
  layersText = 'stride4,stride8',
  neighbourhoodText = '3',
  maxBankText = '2048',
] = process.argv.slice(2);
if (!root || !type || !sizeText) {
  console.error('usage: tsx bench/patch-variants.ts <root> <type> <size> [layers] [neighbourhood]');
  process.exit(2);
}
const size = Number(sizeText);
const layers = layersText.split(',') as FeatureName[];
const neighbourhood = Number(neighbourhoodText);
const maxBank = Number(maxBankText);
await initBackend();
const files = (dir: string) =>
  readdirSync(join(root, type, dir))
    .sort()
    .map((f) => join(root, type, dir, f));
const labels = new Map<string, number>();
for (const kind of readdirSync(join(root, type, 'test')))
  for (const path of files(`test/${kind}`)) labels.set(path, kind === 'good' ? 0 : 1);

const detector = new PatchcoreDetector(await createEncoder('mobilenetv3', { inputSize: size }), {
  inputSize: size,
  features: { layers, neighbourhood },
  maxBank,
  coresetRatio: 1, // the bank is maxBank patches, whatever the number of fit images
});
const started = performance.now();
await detector.fit(decodedBatches(files('train/good'), size, { batchSize: 8 }));
const scores: number[] = [];
const smoothed: number[] = [];
const truth: number[] = [];
const kinds: string[] = [];
for await (const batch of decodedBatches([...labels.keys()], size, { batchSize: 8 })) {
  (await detector.score(batch.images, { anomalyMaps: true })).forEach((r, i) => {
    scores.push(r.score);
    smoothed.push(r.anomalyMap!.data.reduce((a, b) => Math.max(a, b), 0));
    truth.push(labels.get(batch.paths[i]!)!);
    kinds.push(basename(dirname(batch.paths[i]!)));
  });
}
detector.dispose();
const perKind = Object.fromEntries(
  [...new Set(kinds)]
    .filter((kind) => kind !== 'good')
    .map((kind) => {
      const rows = kinds.flatMap((k, i) => (k === kind || k === 'good' ? [i] : []));
      const value = auroc(
        rows.map((i) => scores[i]!),
        rows.map((i) => truth[i]!),
      );
      return [kind, +value.toFixed(3)];
    }),
);
console.log(
  JSON.stringify({
    type,
    size,
    layers,
    neighbourhood,
    maxBank,
    image_auroc: +auroc(scores, truth).toFixed(4),
    smoothed_map_auroc: +auroc(smoothed, truth).toFixed(4),
    per_kind_auroc: perKind,
    seconds: Math.round((performance.now() - started) / 1000),
  }),
);
process.exit(0); // the threaded wasm pool would keep the process alive
