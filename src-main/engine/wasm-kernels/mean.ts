// Mean for wasm: reductions over leading or middle axes (batch-norm moments, global average
// pooling over H and W) as one average pooling (see pool-reduce.ts); innermost ones stay with the
// stock kernel.
import { poolReduceKernel } from './pool-reduce.js';

export const meanKernel = poolReduceKernel('Mean', 'mean');
