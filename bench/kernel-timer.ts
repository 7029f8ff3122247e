// Times every wasm kernel a piece of work runs, counting only top-level calls (a kernel that runs
// other kernels inside, like ours, is charged once), so the shares add up to the kernel time.
import * as tf from '@tensorflow/tfjs';

export interface KernelTime {
  name: string;
  ms: number;
  calls: number;
}

/** Wraps the registered wasm kernels; call `stop()` to put the originals back. */
export class KernelTimer {
  private readonly totals = new Map<string, KernelTime>();
  private readonly originals: tf.KernelConfig[] = [];
  private depth = 0;

  constructor() {
    for (const config of tf.getKernelsForBackend('wasm')) {
      this.originals.push(config);
      const { kernelName, kernelFunc } = config;
      tf.unregisterKernel(kernelName, 'wasm');
      tf.registerKernel({
        ...config,
        kernelFunc: (args) => {
          if (this.depth > 0) return kernelFunc(args);
          this.depth++;
          const start = performance.now();
          try {
            return kernelFunc(args);
          } finally {
            const entry = this.totals.get(kernelName) ?? { name: kernelName, ms: 0, calls: 0 };
            entry.ms += performance.now() - start;
            entry.calls++;
            this.totals.set(kernelName, entry);
            this.depth--;
          }
        },
      });
    }
  }

  reset(): void {
    this.totals.clear();
  }

  /** Kernel times since the last reset, largest first. */
  times(): KernelTime[] {
    return [...this.totals.values()].sort((a, b) => b.ms - a.ms);
  }

  stop(): void {
    for (const config of this.originals) {
      tf.unregisterKernel(config.kernelName, 'wasm');
      tf.registerKernel(config);
    }
  }
}
