// Loading the wasm backend under Node: locating its .wasm files and choosing the thread count.
import '@tensorflow/tfjs-backend-wasm';

let threads = 1;

export async function prepareWasm(): Promise<void> {
  // The Node build of tfjs-backend-wasm finds its .wasm files next to its own script.
  threads = 1;
}

export function wasmThreads(): number {
  return threads;
}
