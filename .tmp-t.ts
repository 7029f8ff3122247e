import { initBackend } from '/work/main/src-main/engine/backend.ts';
import * as tf from '@tensorflow/tfjs';
const r = await initBackend();
console.log(JSON.stringify(r, null, 1));
console.log(tf.matMul(tf.ones([2,2]), tf.ones([2,2])).dataSync());
