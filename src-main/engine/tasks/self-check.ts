// A small tensor workload run step by step: it proves the host's backend computes, says how fast,
// and checks that nothing leaks. It yields between steps so a cancel is seen at once.
import * as tf from '@tensorflow/tfjs';
import { CancelledError } from '../../shared/errors.js';
import { initBackend } from '../backend.js';
import { takeScalar } from '../readback.js';
import type { SelfCheckArgs, TaskContext } from './args.js';

export interface SelfCheckResult {
  backend: string;
  steps: number;
  millisecondsPerStep: number;
  /** Tensors alive after the run that were not before; anything but 0 is a leak. */
  leakedTensors: number;
}

export async function selfCheck(args: SelfCheckArgs, ctx: TaskContext): Promise<SelfCheckResult> {
  await initBackend();
  const before = tf.memory().numTensors;
  const started = performance.now();
  const matrix = tf.randomNormal([args.size, args.size], 0, 1, 'float32', 1);
  try {
    for (let step = 1; step <= args.steps; step++) {
      if (ctx.signal.aborted) throw new CancelledError(`Self-check stopped at step ${step - 1}.`);
      const value = await takeScalar(tf.tidy(() => tf.matMul(matrix, matrix).mean()));
      if (!Number.isFinite(value)) throw new Error(`step ${step} computed ${value}`);
      ctx.progress(step, args.steps);
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    matrix.dispose();
  }
  return {
    backend: tf.getBackend(),
    steps: args.steps,
    millisecondsPerStep: (performance.now() - started) / args.steps,
    leakedTensors: tf.memory().numTensors - before,
  };
}
