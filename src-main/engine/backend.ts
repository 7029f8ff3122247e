// The one place that picks the TF.js backend. Order: tfjs-node-gpu (CUDA) → webgpu (Dawn: Vulkan,
// D3D12 or Metal; only a hardware adapter) → tfjs-node (native CPU) → wasm → pure-JS cpu; each is
// used only if installed and it loads. The choice, the GPU adapter found and the reasons for
// skipping the others are kept for `defectscope info`. No tf.setBackend elsewhere.
import * as tf from '@tensorflow/tfjs';
import { BackendError, errorMessage } from '../shared/errors.js';
import type { GpuAdapterReport } from './webgpu.js';

export type BackendName = 'tensorflow-gpu' | 'webgpu' | 'tensorflow' | 'wasm' | 'cpu';
export const backendOrder: readonly BackendName[] = [
  'tensorflow-gpu',
  'webgpu',
  'tensorflow',
  'wasm',
  'cpu',
];
export type { GpuAdapterReport };

export interface BackendAttempt {
  name: BackendName;
  ok: boolean;
  reason: string;
}

export interface BackendReport {
  /** The backend in use. */
  name: BackendName;
  /** The name TF.js knows it by (both native packages register as 'tensorflow'). */
  tfName: string;
  /** What the inspector sees: GPU / native CPU / wasm / cpu. */
  label: string;
  threads: number;
  tfjsVersion: string;
  attempts: BackendAttempt[];
  requested?: BackendName;
  /** The GPU adapter Dawn found, whether or not the engine uses it. */
  gpuAdapter?: GpuAdapterReport;
}

const labels: Record<BackendName, string> = {
  'tensorflow-gpu': 'GPU (CUDA, tfjs-node-gpu)',
  webgpu: 'GPU (WebGPU)',
  tensorflow: 'native CPU (tfjs-node)',
  wasm: 'WebAssembly CPU (tfjs-backend-wasm)',
  cpu: 'pure-JS CPU (slow)',
};

let current: Promise<BackendReport> | undefined;

/** Parses a user-supplied backend name (`--backend`, DEFECTSCOPE_BACKEND). */
export function parseBackendName(value: string): BackendName {
  const aliases: Record<string, BackendName> = {
    gpu: 'tensorflow-gpu',
    'tensorflow-gpu': 'tensorflow-gpu',
    'tfjs-node-gpu': 'tensorflow-gpu',
    webgpu: 'webgpu',
    node: 'tensorflow',
    tensorflow: 'tensorflow',
    'tfjs-node': 'tensorflow',
    wasm: 'wasm',
    cpu: 'cpu',
  };
  const name = aliases[value.trim().toLowerCase()];
  if (!name) {
    throw new BackendError(
      `Unknown backend '${value}'. Choose one of: gpu, webgpu, node, wasm, cpu (or leave it unset to pick the fastest installed).`,
    );
  }
  return name;
}

async function tryBackend(name: BackendName, requested: boolean): Promise<void> {
  switch (name) {
    case 'tensorflow-gpu':
    case 'tensorflow': {
      // Optional packages: absent on machines whose install could not fetch libtensorflow.
      const pkg = name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
      await import(/* @vite-ignore */ pkg);
      if (!(await tf.setBackend('tensorflow')))
        throw new Error(`${pkg} loaded but its backend did not start`);
      return;
    }
    case 'webgpu': {
      const { prepareWebgpu } = await import('./webgpu.js');
      await prepareWebgpu(requested);
      if (!(await tf.setBackend('webgpu'))) throw new Error('the webgpu backend did not start');
      return;
    }
    case 'wasm': {
      const { prepareWasm } = await import('./wasm.js');
      await prepareWasm();
      if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not start');
      return;
    }
    case 'cpu':
      if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend did not start');
      return;
  }
}

async function pick(requested: BackendName | undefined): Promise<BackendReport> {
  const attempts: BackendAttempt[] = [];
  const candidates = requested ? [requested] : backendOrder;
  for (const name of candidates) {
    try {
      await tryBackend(name, requested !== undefined);
      await tf.ready();
      const gpuAdapter = await adapterIfProbed(attempts, name);
      attempts.push({
        name,
        ok: true,
        reason:
          (requested ? 'requested' : 'first in order that loads') +
          (name === 'webgpu' && gpuAdapter?.software
            ? '; a software adapter, used only because it was asked for (slower than wasm)'
            : ''),
      });
      const { wasmThreads } = await import('./wasm.js');
      return {
        name,
        tfName: tf.getBackend(),
        label: name === 'webgpu' && gpuAdapter ? webgpuLabel(gpuAdapter) : labels[name],
        threads: name === 'wasm' ? wasmThreads() : 0,
        tfjsVersion: tf.version_core,
        attempts,
        ...(requested ? { requested } : {}),
        ...(gpuAdapter ? { gpuAdapter } : {}),
      };
    } catch (error) {
      attempts.push({ name, ok: false, reason: whyNot(name, error) });
    }
  }
  const tried = attempts.map((a) => `${a.name}: ${a.reason}`).join('; ');
  throw new BackendError(
    requested
      ? `The ${requested} backend is not available here (${tried}). Leave --backend unset to use the best installed one.`
      : `No TF.js backend could start (${tried}).`,
  );
}

/** The adapter Dawn found, if webgpu was tried (now or before `name`) and found one. */
async function adapterIfProbed(
  attempts: readonly BackendAttempt[],
  name: BackendName,
): Promise<GpuAdapterReport | undefined> {
  if (name !== 'webgpu' && !attempts.some((a) => a.name === 'webgpu')) return undefined;
  const { findGpuAdapter } = await import('./webgpu.js');
  return findGpuAdapter().catch(() => undefined);
}

function webgpuLabel(adapter: GpuAdapterReport): string {
  const what = adapter.description || [adapter.vendor, adapter.device].filter(Boolean).join(' ');
  return adapter.software
    ? `software GPU (WebGPU on ${what}; slower than wasm)`
    : `GPU (WebGPU: ${what})`;
}

function whyNot(name: BackendName, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
    return name === 'tensorflow' || name === 'tensorflow-gpu'
      ? 'not installed (optional package; its install downloads libtensorflow, which needs internet)'
      : 'not installed';
  }
  return errorMessage(error).split('\n')[0]!.slice(0, 200);
}

/**
 * Starts the engine's backend once per process and returns what was chosen. An explicit
 * request (argument, else DEFECTSCOPE_BACKEND) must load or this fails; otherwise the first
 * backend in order that loads wins.
 */
export function initBackend(requested?: string): Promise<BackendReport> {
  const wanted = requested ?? process.env.DEFECTSCOPE_BACKEND;
  const name = wanted ? parseBackendName(wanted) : undefined;
  if (current) {
    return current.then((report) => {
      if (name && report.name !== name) {
        throw new BackendError(
          `The engine already runs on ${report.name}; a process uses one backend. Restart to switch to ${name}.`,
        );
      }
      return report;
    });
  }
  current = pick(name);
  current.catch(() => (current = undefined));
  return current;
}

/**
 * Test support only: runs `fn` with TF.js switched to another backend (e.g. the cpu reference
 * next to wasm when checking a wasm kernel), then switches back. The app itself uses one backend
 * per process, chosen by initBackend.
 */
export async function withBackend<T>(name: 'cpu' | 'wasm', fn: () => T | Promise<T>): Promise<T> {
  if (name === 'wasm') {
    const { prepareWasm } = await import('./wasm.js');
    await prepareWasm();
  }
  const previous = tf.getBackend();
  if (!(await tf.setBackend(name))) throw new BackendError(`The ${name} backend did not start.`);
  try {
    return await fn();
  } finally {
    if (previous && previous !== name) await tf.setBackend(previous);
  }
}
