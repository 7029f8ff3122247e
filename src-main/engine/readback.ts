// Reading tensor values back into JavaScript. Always asynchronous: dataSync() and arraySync()
// throw on the webgpu backend under Node (they need a canvas there), and waiting with `await`
// lets the GPU finish queued work without blocking the event loop. A lint rule keeps the
// synchronous forms out of src-main.
import type * as tf from '@tensorflow/tfjs';

/** The value of a one-element tensor (a loss, a mean); disposes the tensor. */
export async function takeScalar(tensor: tf.Tensor): Promise<number> {
  try {
    return (await tensor.data())[0]!;
  } finally {
    tensor.dispose();
  }
}
