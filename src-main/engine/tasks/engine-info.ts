// What the engine runs on (for app/info) and how many tensors it holds (for leak checks).
import * as tf from '@tensorflow/tfjs';
import type { EngineBackendDto } from '../../shared/dto.js';
import { initBackend } from '../backend.js';

export async function engineInfo(): Promise<{ pid: number; backend: EngineBackendDto }> {
  const report = await initBackend();
  return {
    pid: process.pid,
    backend: {
      name: report.name,
      label: report.label,
      threads: report.threads,
      tfjsVersion: report.tfjsVersion,
      attempts: report.attempts,
      ...(report.gpuAdapter ? { gpuAdapter: report.gpuAdapter } : {}),
    },
  };
}

export async function engineMemory(): Promise<{ numTensors: number; numBytes: number }> {
  await initBackend();
  const { numTensors, numBytes } = tf.memory();
  return { numTensors, numBytes };
}
