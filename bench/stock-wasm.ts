// Stock tfjs-backend-wasm inference of the engine benchmark's reference network: no DefectScope
// kernels, stock thread handling (one thread under Node), the plain layers model with its
// separate batch-norm layers. This is the issue table's "TF.js wasm, stock" row; measured on the
// same machine as `bench:engine`, it turns that table's absolute figures (taken on another CPU)
// into ratios. Prints one JSON object on its last line.
//
//   npx tsx bench/stock-wasm.ts [--sizes 64,128] [--steps 5]
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { createResnetEncoder } from '../src-main/engine/encoders/resnet.js';
import { randomImages } from './workloads.js';

const args = process.argv.slice(2);
const arg = (flag: string, fallback: string): string => {
  const i = args.indexOf(flag);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const sizes = arg('--sizes', '64,128').split(',').map(Number);
const steps = Number(arg('--steps', '5'));
if (sizes.some((s) => !Number.isInteger(s) || s < 32 || s % 32 !== 0) || !(steps >= 1)) {
  console.error('Usage: tsx bench/stock-wasm.ts [--sizes 64,128] [--steps N]');
  process.exit(2);
}

await tf.setBackend('wasm');
const results: { model: 'encoder'; size: number; infer_img_s: number }[] = [];
for (const size of sizes) {
  const encoder = createResnetEncoder({ inputSize: size, stemStride: 1, seed: 1 });
  const images = randomImages(32, size, 1);
  const step = async (): Promise<void> => {
    const outputs = encoder.model.predict(images) as tf.Tensor[];
    try {
      await outputs[3]!.data();
    } finally {
      tf.dispose(outputs);
    }
  };
  for (let i = 0; i < 2; i++) await step();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    await step();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  results.push({ model: 'encoder', size, infer_img_s: Math.round((32_000 / median) * 10) / 10 });
  console.log(`stock wasm, ${size} px: ${results.at(-1)!.infer_img_s} img/s inference`);
  tf.dispose(images);
  encoder.dispose();
}
console.log(JSON.stringify({ backend: 'wasm (stock)', threads: 1, results }));
process.exit(0);
