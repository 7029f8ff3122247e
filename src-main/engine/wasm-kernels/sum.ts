// Sum for wasm: reductions over leading or middle axes (batch-norm statistics and gradients, bias
// gradients) as one average pooling (see pool-reduce.ts); innermost ones stay with the stock kernel.
import { poolReduceKernel } from './pool-reduce.js';

export const sumKernel = poolReduceKernel('Sum', 'sum');
