// Worker thread of ImageBatchLoader (image-batches.ts): decodes image files with sharp while the
// main thread trains. Plain JavaScript because a worker starts without the TypeScript loader of
// the main thread: it registers tsx itself, then loads the project's one decoder (data/image-io).
import { parentPort } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { decodeImage } = await import('../data/image-io.ts');

// sharp runs each decode on libuv's pool; a few at a time keep it busy without flooding memory.
const CONCURRENCY = 4;

// roi: the type's region of interest or null (shared/roi.ts); decodeImage crops to it.
parentPort.on('message', async ({ id, paths, size, roi }) => {
  const decoded = new Array(paths.length);
  const failures = [];
  let next = 0;
  const lane = async () => {
    while (next < paths.length) {
      const index = next++;
      try {
        decoded[index] = (await decodeImage(paths[index], { size, roi })).data;
      } catch (error) {
        // ImageError is a class the other thread cannot receive; send its fields.
        failures.push({
          path: paths[index],
          problem: error?.problem ?? 'corrupt',
          message: error instanceof Error ? error.message : String(error),
        });
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  const ok = paths.flatMap((_, i) => (decoded[i] ? [i] : []));
  // size: [width, height] (image-batches.ts widthHeight).
  const each = size[0] * size[1] * 3;
  const pixels = new Float32Array(ok.length * each);
  ok.forEach((index, k) => pixels.set(decoded[index], k * each));
  parentPort.postMessage({ id, pixels, decoded: ok, failures }, [pixels.buffer]);
});
