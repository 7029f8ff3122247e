// Engine benchmark: SimCLR training and batch inference throughput of the ResNet encoder (and the
// VGG-16 baseline) on the chosen backend. Prints readable lines, then ONE JSON object as the last
// line. `--profile` adds each kernel's share of a training step with the stock wasm kernels and
// with ours, and `--compare-threads` the wasm speed with 1 thread against all threads, each
// measured interleaved in this one process (the machine is shared, so only same-run ratios mean
// much).
//
//   npm run bench:engine -- --backend wasm --sizes 64,128,224 --steps 5
import * as tf from '@tensorflow/tfjs';
import { initBackend, parseBackendName } from '../src-main/engine/backend.js';
import type { Encoder } from '../src-main/engine/encoders/encoder.js';
import { createResnetEncoder } from '../src-main/engine/encoders/resnet.js';
import { createVggEncoder } from '../src-main/engine/encoders/vgg.js';
import { setWasmPoolThreads, wasmThreading } from '../src-main/engine/wasm.js';
import { fasterKernels } from '../src-main/engine/wasm-kernels/index.js';
import { captureStock } from '../src-main/engine/wasm-kernels/kernel-utils.js';
import { KernelTimer } from './kernel-timer.js';
import { SimclrWorkload, forwardGflop, inferStep, randomImages } from './workloads.js';

interface Options {
  backend?: string;
  sizes: number[];
  steps: number;
  warmup: number;
  models: ('encoder' | 'vgg16')[];
  stemStride: 1 | 2;
  /** Images per SimCLR step (each gives two views, so 2× encoder inputs). */
  images: number;
  vggImages: number;
  inferBatch: number;
  profile: boolean;
  compareThreads: boolean;
}

interface Result {
  model: 'encoder' | 'vgg16';
  size: number;
  fwd_gflop: number;
  train_img_s: number;
  infer_img_s: number;
}

const usage = `Usage: tsx bench/engine.ts [options]
  --backend NAME       gpu | webgpu | node | wasm | cpu (default: the best installed, as the app picks)
  --sizes A,B,...      ResNet input sizes in px (default 64,128,224)
  --steps N            timed steps per measurement, after warm-up; the median is reported (default 5)
  --warmup N           untimed steps first (default 2)
  --models LIST        encoder,vgg16 (default both; vgg16 runs at 224 px)
  --stem-stride 1|2    2: the app's encoder (default); 1: the prototype's reference network
  --images N           images per SimCLR step, 2 views each (default 16 → 32 encoder inputs)
  --vgg-images N       images per VGG training step (default 4: 32 inputs do not fit in wasm memory)
  --profile            per-kernel share of a training step, stock vs our wasm kernels
  --compare-threads    wasm training/inference with 1 thread vs all, interleaved`;

function parseOptions(argv: string[]): Options {
  const options: Options = {
    sizes: [64, 128, 224],
    steps: 5,
    warmup: 2,
    models: ['encoder', 'vgg16'],
    stemStride: 2,
    images: 16,
    vggImages: 4,
    inferBatch: 32,
    profile: false,
    compareThreads: false,
  };
  const positive = (flag: string, value: string | undefined): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`${flag} needs a whole number ≥ 1.\n${usage}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value.\n${usage}`);
      return v;
    };
    switch (flag) {
      case '--backend':
        options.backend = parseBackendName(value());
        break;
      case '--sizes':
        options.sizes = value()
          .split(',')
          .map((s) => positive('--sizes', s));
        break;
      case '--steps':
        options.steps = positive(flag, value());
        break;
      case '--warmup':
        options.warmup = Number(value());
        break;
      case '--models':
        options.models = value()
          .split(',')
          .map((m) => {
            if (m !== 'encoder' && m !== 'vgg16')
              throw new Error(`Unknown model '${m}'.\n${usage}`);
            return m;
          });
        break;
      case '--stem-stride': {
        const s = Number(value());
        if (s !== 1 && s !== 2) throw new Error(`--stem-stride is 1 or 2.\n${usage}`);
        options.stemStride = s;
        break;
      }
      case '--images':
        options.images = positive(flag, value());
        break;
      case '--vgg-images':
        options.vggImages = positive(flag, value());
        break;
      case '--profile':
        options.profile = true;
        break;
      case '--compare-threads':
        options.compareThreads = true;
        break;
      case '--help':
      case '-h':
        console.log(usage);
        process.exit(0);
        break;
      default:
        throw new Error(`Unknown option '${flag}'.\n${usage}`);
    }
  }
  return options;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function timeSteps(count: number, step: () => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await step();
    times.push(performance.now() - start);
  }
  return times;
}

function round(value: number, digits = 3): number {
  return Number(value.toPrecision(digits));
}

interface Measured {
  trainImgS: number;
  inferImgS: number;
  trainMs: number[];
  inferMs: number[];
}

async function measure(
  encoder: Encoder,
  size: number,
  images: number,
  options: Options,
): Promise<Measured> {
  const workload = new SimclrWorkload(encoder);
  const views = randomImages(2 * images, size, 1);
  const batch = randomImages(options.inferBatch, size, 2);
  try {
    await timeSteps(options.warmup, () => workload.step(views));
    const trainMs = await timeSteps(options.steps, () => workload.step(views));
    await timeSteps(Math.min(options.warmup, 1), () => inferStep(encoder, batch));
    const inferMs = await timeSteps(options.steps, () => inferStep(encoder, batch));
    return {
      trainImgS: (2 * images) / (median(trainMs) / 1000),
      inferImgS: options.inferBatch / (median(inferMs) / 1000),
      trainMs,
      inferMs,
    };
  } finally {
    tf.dispose([views, batch]);
    workload.dispose();
  }
}

function log(line: string): void {
  console.log(line);
}

/** Swaps our faster wasm kernels for the stock ones (true) or back (false). */
function useStockKernels(stock: boolean, ours: Map<string, tf.KernelConfig>): void {
  for (const kernel of fasterKernels) {
    const config = stock ? captureStock(kernel.kernelName) : ours.get(kernel.kernelName);
    if (!config) continue;
    tf.unregisterKernel(kernel.kernelName, 'wasm');
    tf.registerKernel(config);
  }
}

async function profile(size: number, options: Options): Promise<void> {
  const ours = new Map(
    fasterKernels.map((k) => [k.kernelName, tf.getKernel(k.kernelName, 'wasm')] as const),
  );
  const encoder = createResnetEncoder({ inputSize: size, stemStride: options.stemStride, seed: 1 });
  const workload = new SimclrWorkload(encoder);
  const views = randomImages(2 * options.images, size, 1);
  const totals = { stock: new Map<string, number>(), ours: new Map<string, number>() };
  const steps = { stock: [] as number[], ours: [] as number[] };
  try {
    await timeSteps(options.warmup, () => workload.step(views));
    // Interleaved blocks, so a change in the machine's load hits both sides alike.
    for (let round = 0; round < 2; round++) {
      for (const side of ['stock', 'ours'] as const) {
        useStockKernels(side === 'stock', ours);
        await workload.step(views); // the first step after a swap re-creates cached XNNPACK operators
        const timer = new KernelTimer();
        try {
          steps[side].push(
            ...(await timeSteps(Math.max(2, Math.ceil(options.steps / 2)), () =>
              workload.step(views),
            )),
          );
          for (const t of timer.times())
            totals[side].set(t.name, (totals[side].get(t.name) ?? 0) + t.ms);
        } finally {
          timer.stop();
        }
      }
    }
  } finally {
    useStockKernels(false, ours);
    views.dispose();
    workload.dispose();
    encoder.dispose();
  }
  const stepMs = { stock: median(steps.stock), ours: median(steps.ours) };
  const perStep = (side: 'stock' | 'ours', name: string) =>
    (totals[side].get(name) ?? 0) / steps[side].length;
  const names = [...new Set([...totals.stock.keys(), ...totals.ours.keys()])].sort(
    (a, b) => perStep('stock', b) - perStep('stock', a),
  );
  const kernelMs = (side: 'stock' | 'ours') => names.reduce((sum, n) => sum + perStep(side, n), 0);
  const meanStep = (side: 'stock' | 'ours') =>
    steps[side].reduce((a, b) => a + b, 0) / steps[side].length;
  log(
    `\nKernel profile: ResNet (stem stride ${options.stemStride}) SimCLR step, ${2 * options.images} inputs at ${size} px`,
  );
  log(`| kernel | stock ms/step | stock share | ours ms/step | ours share |`);
  log(`| --- | ---: | ---: | ---: | ---: |`);
  for (const name of names) {
    const s = perStep('stock', name);
    const o = perStep('ours', name);
    if (s < 0.005 * meanStep('stock') && o < 0.005 * meanStep('ours')) continue;
    log(
      `| ${name} | ${s.toFixed(1)} | ${((100 * s) / meanStep('stock')).toFixed(1)} % | ${o.toFixed(1)} | ${((100 * o) / meanStep('ours')).toFixed(1)} % |`,
    );
  }
  for (const side of ['stock', 'ours'] as const) {
    const other = meanStep(side) - kernelMs(side);
    log(
      `| (outside kernels: JS, tape, optimizer bookkeeping) ${side} | ${other.toFixed(1)} ms | ${((100 * other) / meanStep(side)).toFixed(1)} % | | |`,
    );
  }
  log(
    `Step median: stock kernels ${stepMs.stock.toFixed(0)} ms, ours ${stepMs.ours.toFixed(0)} ms → ${(stepMs.stock / stepMs.ours).toFixed(2)}× faster (same run, interleaved).`,
  );
}

async function compareThreads(size: number, options: Options): Promise<void> {
  const all = wasmThreading().threads;
  if (all < 2) {
    log(
      `\nThreads: the wasm backend runs 1 thread here (${wasmThreading().note ?? 'one core'}); nothing to compare.`,
    );
    return;
  }
  // Each switch leaves the previous XNNPACK pool's threads idle (8 workers in all), so few rounds.
  const rounds = Math.max(1, Math.min(3, Math.floor(8 / (all - 1)) - 1));
  const encoder = createResnetEncoder({ inputSize: size, stemStride: options.stemStride, seed: 1 });
  const workload = new SimclrWorkload(encoder);
  const views = randomImages(2 * options.images, size, 1);
  const batch = randomImages(options.inferBatch, size, 2);
  const train = new Map<number, number[]>();
  const infer = new Map<number, number[]>();
  try {
    await timeSteps(options.warmup, () => workload.step(views));
    for (let round = 0; round < rounds; round++) {
      for (const threads of [all, 1]) {
        setWasmPoolThreads(threads);
        await workload.step(views);
        train.set(threads, [
          ...(train.get(threads) ?? []),
          ...(await timeSteps(2, () => workload.step(views))),
        ]);
        infer.set(threads, [
          ...(infer.get(threads) ?? []),
          ...(await timeSteps(2, () => inferStep(encoder, batch))),
        ]);
      }
    }
  } finally {
    setWasmPoolThreads(all);
    tf.dispose([views, batch]);
    workload.dispose();
    encoder.dispose();
  }
  const imgS = (count: number, ms: number[]) => count / (median(ms) / 1000);
  const t1 = imgS(2 * options.images, train.get(1)!);
  const tN = imgS(2 * options.images, train.get(all)!);
  const i1 = imgS(options.inferBatch, infer.get(1)!);
  const iN = imgS(options.inferBatch, infer.get(all)!);
  log(`\nThreads at ${size} px (interleaved, ${rounds} round(s)):`);
  log(`| threads | train img/s | infer img/s |`);
  log(`| ---: | ---: | ---: |`);
  log(`| 1 | ${t1.toFixed(1)} | ${i1.toFixed(1)} |`);
  log(`| ${all} | ${tN.toFixed(1)} | ${iN.toFixed(1)} |`);
  log(`| ratio | ${(tN / t1).toFixed(2)}× | ${(iN / i1).toFixed(2)}× |`);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const report = await initBackend(options.backend);
  log(
    `Backend: ${report.label} (${report.tfName}), ${report.threads || 1} thread(s)${wasmThreading().note && report.name === 'wasm' ? ` — ${wasmThreading().note}` : ''}`,
  );
  const results: Result[] = [];

  if (options.models.includes('encoder')) {
    for (const size of options.sizes) {
      const encoder = createResnetEncoder({
        inputSize: size,
        stemStride: options.stemStride,
        seed: 1,
      });
      try {
        const gflop = await forwardGflop(encoder, size);
        const m = await measure(encoder, size, options.images, options);
        results.push({
          model: 'encoder',
          size,
          fwd_gflop: round(gflop),
          train_img_s: round(m.trainImgS),
          infer_img_s: round(m.inferImgS),
        });
        log(
          `ResNet (stem stride ${options.stemStride}) ${size} px: ${gflop.toFixed(3)} GFLOP fwd/img; train ${m.trainImgS.toFixed(1)} img/s ` +
            `(step ms ${m.trainMs.map((t) => t.toFixed(0)).join(' ')}); infer ${m.inferImgS.toFixed(1)} img/s`,
        );
      } finally {
        encoder.dispose();
      }
    }
  }

  if (options.models.includes('vgg16')) {
    const size = 224;
    const encoder = await createVggEncoder({ inputSize: size, seed: 1 });
    try {
      const gflop = await forwardGflop(encoder, size);
      // One image's forward alone is ~15 GFLOP: keep VGG to the fewest steps that give a median.
      const vggOptions = {
        ...options,
        steps: Math.min(options.steps, 3),
        warmup: Math.min(options.warmup, 1),
      };
      const m = await measure(encoder, size, options.vggImages, vggOptions);
      results.push({
        model: 'vgg16',
        size,
        fwd_gflop: round(gflop),
        train_img_s: round(m.trainImgS),
        infer_img_s: round(m.inferImgS),
      });
      log(
        `VGG-16 ${size} px: ${gflop.toFixed(2)} GFLOP fwd/img; train ${m.trainImgS.toFixed(2)} img/s with ${2 * options.vggImages} inputs a step ` +
          `(step ms ${m.trainMs.map((t) => t.toFixed(0)).join(' ')}); infer ${m.inferImgS.toFixed(2)} img/s`,
      );
    } finally {
      encoder.dispose();
    }
  }

  const focus = options.sizes.includes(128) ? 128 : options.sizes[0]!;
  if (options.profile && report.tfName === 'wasm') await profile(focus, options);
  if (options.compareThreads && report.tfName === 'wasm') await compareThreads(focus, options);

  console.log(JSON.stringify({ backend: report.tfName, threads: report.threads || 1, results }));
}

main()
  // Threaded wasm's workers keep Node alive after the work is done.
  .then(() => process.exit(0))
  .catch((error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  });
