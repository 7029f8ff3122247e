// Loading the wasm backend under Node: our training kernels, and the multi-threaded SIMD build
// with the thread count we choose. Used only through backend.ts.
//
// Why the threaded build needs a workaround: stock tfjs-backend-wasm turns threads off under Node
// (WASM_HAS_MULTITHREAD_SUPPORT is false there) and, forced on, loads its pthread worker from a
// blob: URL, which Node's Worker refuses (ERR_WORKER_PATH). Its C++ also caps the pool at half
// the logical cores, i.e. one thread on a 2-core PC. So we start the same threaded build the
// package ships (wasm-out/) ourselves: the worker script the package carries as a string is
// written once to a file in the OS temp folder, and the module is told it has twice the cores
// we want threads, so the cap lets them through. Measured on a 2-core PC: +26–58 % img/s with 2
// threads. If any of it fails, the stock single-threaded build is used and the reason kept.
import { createHash } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as wasmBackend from '@tensorflow/tfjs-backend-wasm';
import { errorMessage } from '../shared/errors.js';
import { registerWasmKernels } from './wasm-kernels/index.js';

const require = createRequire(import.meta.url);
// XNNPACK's pool in this build has 8 pre-started workers; more threads than that would block.
const MAX_THREADS = 8;
const START_TIMEOUT_MS = 60_000;

export interface WasmThreading {
  threads: number;
  /** Why fewer threads than cores are used, if so. */
  note?: string;
}

let threading: WasmThreading = { threads: 1 };
let prepared: Promise<void> | undefined;

/**
 * Registers our kernels and arranges for the threaded build; call before tf.setBackend('wasm').
 * DEFECTSCOPE_WASM_THREADS overrides the thread count (1 keeps the single-threaded build).
 */
export function prepareWasm(): Promise<void> {
  prepared ??= prepare();
  return prepared;
}

async function prepare(): Promise<void> {
  registerWasmKernels();
  if (tf.engine().registry['wasm']) {
    threading = {
      threads: safeThreadsCount(),
      note: 'the wasm backend had started before the engine set it up',
    };
    return;
  }
  const wanted = wantedThreads();
  let note = wanted.note;
  let workerPath: string | undefined;
  if (wanted.threads > 1) {
    try {
      workerPath = await writeWorkerScript();
    } catch (error) {
      note = `threads off: cannot write the wasm worker script (${errorMessage(error)})`;
    }
  }
  const stockFactory = tf.findBackendFactory('wasm');
  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    () =>
      withoutEmscriptenProcessHandlers(async () => {
        if (workerPath) {
          try {
            const backend = await startThreadedBackend(wanted.threads, workerPath);
            threading = { threads: wasmBackend.getThreadsCount(), ...(note ? { note } : {}) };
            return backend;
          } catch (error) {
            note = `threads off: the threaded wasm build did not start (${errorMessage(error)})`;
          }
        }
        wasmBackend.setThreadsCount(1);
        const backend = await stockFactory();
        threading = { threads: safeThreadsCount(), ...(note ? { note } : {}) };
        return backend;
      }),
    2,
  );
}

/**
 * Emscripten's Node glue adds process handlers that rethrow every uncaught exception and
 * unhandled rejection from inside its minified code, so any crash of ours would print a 60 kB
 * line of wasm glue instead of our stack. Node's own handling is what we want: drop them.
 */
async function withoutEmscriptenProcessHandlers<T>(start: () => Promise<T>): Promise<T> {
  const exceptions = new Set(process.listeners('uncaughtException'));
  const rejections = new Set(process.listeners('unhandledRejection'));
  try {
    return await start();
  } finally {
    for (const listener of process.listeners('uncaughtException')) {
      if (!exceptions.has(listener)) process.removeListener('uncaughtException', listener);
    }
    for (const listener of process.listeners('unhandledRejection')) {
      if (!rejections.has(listener)) process.removeListener('unhandledRejection', listener);
    }
  }
}

/** Threads the wasm backend runs with (1 until it has started). */
export function wasmThreads(): number {
  return threading.threads;
}

export function wasmThreading(): WasmThreading {
  return { ...threading };
}

/**
 * Test and benchmark support: switches XNNPACK's thread pool of the running backend to `threads`
 * (at most the count it started with). Each switch creates a new pool and leaves the old one's
 * threads idle, so use it a handful of times per process, not in a loop.
 */
export function setWasmPoolThreads(threads: number): number {
  const backend = tf.engine().registry['wasm'] as wasmBackend.BackendWasm | undefined;
  if (!backend) throw new Error('The wasm backend has not started.');
  const tfjs = (backend.wasm as unknown as { tfjs: WasmApi }).tfjs;
  tfjs.initWithThreadsCount(Math.max(1, Math.min(threads, threading.threads)));
  return tfjs.getThreadsCount();
}

function wantedThreads(): { threads: number; note?: string } {
  const override = process.env.DEFECTSCOPE_WASM_THREADS;
  if (override !== undefined && override !== '') {
    const n = Number(override);
    if (Number.isInteger(n) && n >= 1) {
      return { threads: Math.min(n, MAX_THREADS), note: `DEFECTSCOPE_WASM_THREADS=${override}` };
    }
  }
  if (typeof SharedArrayBuffer === 'undefined') {
    return { threads: 1, note: 'threads off: SharedArrayBuffer is not available' };
  }
  return { threads: Math.min(availableParallelism(), MAX_THREADS) };
}

function safeThreadsCount(): number {
  try {
    return wasmBackend.getThreadsCount();
  } catch {
    return 1;
  }
}

const THREADED_JS = '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js';
const THREADED_WORKER =
  '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js';
const THREADED_WASM = 'tfjs-backend-wasm-threaded-simd.wasm';

/** Writes the pthread worker script to a file named by its hash (shared by all processes). */
async function writeWorkerScript(): Promise<string> {
  const { wasmWorkerContents } = require(THREADED_WORKER) as { wasmWorkerContents: string };
  // The package keeps the script in a template literal, so its "\n" escapes arrived as real
  // newlines inside string literals; tfjs puts the escapes back the same way before using it.
  const script = wasmWorkerContents.replace(/\n/g, '\\n');
  const hash = createHash('sha256').update(script).digest('hex').slice(0, 16);
  const path = join(
    tmpdir(),
    `defectscope-tfjs-wasm-${wasmBackend.version_wasm}-${hash}.worker.js`,
  );
  try {
    if ((await readFile(path, 'utf8')) === script) return path;
  } catch {
    // Not there yet: write it.
  }
  // Written under a unique name and renamed, so a parallel process never loads half a file.
  const partial = `${path}.${process.pid}-${Date.now()}.tmp`;
  await writeFile(partial, script);
  await rename(partial, path);
  return path;
}

interface WasmApi {
  initWithThreadsCount(threads: number): void;
  getThreadsCount(): number;
}

type EmscriptenModule = Record<string, unknown> & {
  cwrap: (name: string, returnType: string | null, argTypes: string[]) => unknown;
};
// The bits of the WebAssembly JS API used here (the Node lib typings do not declare them).
type WasmImports = Record<string, Record<string, unknown>> & { env: Record<string, unknown> };
interface WasmApiGlobal {
  instantiate(
    binary: Uint8Array,
    imports: WasmImports,
  ): Promise<{ instance: unknown; module: unknown }>;
}
const webAssembly = (globalThis as unknown as { WebAssembly: WasmApiGlobal }).WebAssembly;
type EmscriptenFactory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

async function startThreadedBackend(
  threads: number,
  workerPath: string,
): Promise<tf.KernelBackend> {
  const scriptPath = require.resolve(THREADED_JS);
  const factory = require(scriptPath) as EmscriptenFactory;
  const binary = await readFile(join(dirname(scriptPath), THREADED_WASM));
  const module = await new Promise<EmscriptenModule>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(`its ${MAX_THREADS} workers did not load within ${START_TIMEOUT_MS / 1000} s`),
        ),
      START_TIMEOUT_MS,
    );
    const settle =
      <T>(fn: (value: T) => void) =>
      (value: T) => {
        clearTimeout(timer);
        fn(value);
      };
    factory({
      // Workers load the factory from this file instead of from a blob: URL.
      mainScriptUrlOrBlob: scriptPath,
      locateFile: (file: string, prefix: string) =>
        file.endsWith('.worker.js') ? workerPath : prefix + file,
      onAbort: settle((reason: unknown) => reject(new Error(`aborted: ${String(reason)}`))),
      instantiateWasm: (
        imports: WasmImports,
        receive: (instance: unknown, module: unknown) => void,
      ) => {
        // The C++ caps its pool at emscripten_num_logical_cores() / 2, read once at start-up.
        const env = { ...imports.env, emscripten_num_logical_cores: () => 2 * threads };
        webAssembly
          .instantiate(binary, { ...imports, env })
          .then(({ instance, module: compiled }) => receive(instance, compiled), settle(reject));
        return {};
      },
    }).then(settle(resolve), settle(reject));
  });
  // The same bridge tfjs-backend-wasm's own init() adds before creating the backend.
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  wasmBackend.setThreadsCount(threads);
  return new wasmBackend.BackendWasm(
    module as unknown as ConstructorParameters<typeof wasmBackend.BackendWasm>[0],
  );
}
