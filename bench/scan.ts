// Folder inspection benchmark: inspects folders of 1,000 and 10,000 generated 128 px images with
// a fitted one-class model, through the same services as the app (the engine host scores, the
// store records every result), and reports images per second and the peak resident memory of
// the whole process tree (this process, the engine host and its workers). The last line is JSON:
// {"results": [{"images": N, "img_s": X, "peak_rss_mb": M}]}. Run: npm run bench:scan [-- 1000 10000]
// With `--megapixel N` it instead inspects N camera-sized images (1000 × 1000 JPEG, the same
// products upscaled) with a model retrained on such images at the product's default size, and
// adds seconds per image: the real-products issue's "1 MP image in ≤ 1 s" row. `--views on|off`
// sets the retrained model's views (RetrainRequest.views; default: the painted defects decide), so
// the cost of scoring each image in four views can be measured; each row says what the model did.
// Camera images are retrained from the type's good images only, as a new type's first model is.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openServices } from '../src-main/api/services.js';
import { generateDataset } from '../src-main/data/synthetic/generate.js';
import { jobOutcome } from '../src-main/cli/follow-job.js';
import sharp from 'sharp';
import {
  VIEWS_CHOICES,
  type InspectSummary,
  type RetrainSummary,
  type ViewsChoice,
} from '../src-main/shared/dto.js';

const SIZE = 128;
const TYPE = 'pill';

/** Resident memory (bytes) of a process and all its descendants, from /proc (Linux). */
function treeRss(root: number): number {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // The process ended while we looked.
    }
  }
  let total = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      total += kb * 1024;
    } catch {
      continue;
    }
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

const argv = process.argv.slice(2);
const megapixel = argv.indexOf('--megapixel');
const cameraImages = megapixel >= 0 ? Number(argv.splice(megapixel, 2)[1]) : 0;
const viewsAt = argv.indexOf('--views');
const views = viewsAt >= 0 ? argv.splice(viewsAt, 2)[1] : undefined;
if (views !== undefined && !VIEWS_CHOICES.includes(views as ViewsChoice))
  throw new Error(`--views takes ${VIEWS_CHOICES.join(', ')}; got '${views}'.`);
const CAMERA_SIDE = 1000;
const counts = argv.map(Number).filter((n) => n > 0);
const sizes = cameraImages > 0 ? [cameraImages] : counts.length > 0 ? counts : [1000, 10_000];
const work = mkdtempSync(join(tmpdir(), 'defectscope-bench-scan-'));
const services = openServices({ dataDir: join(work, 'data') });
const { router } = services;
const results: {
  images: number;
  megapixels: number;
  img_s: number;
  s_per_image: number;
  peak_rss_mb: number;
  /** Whether the model scored each image also mirrored and turned. */
  viewed: boolean;
}[] = [];
try {
  // A few hundred distinct images, fitted once; each folder cycles through them under new names.
  const dataset = join(work, 'dataset');
  await generateDataset(dataset, { seed: 11, perType: 160, size: SIZE, types: [TYPE] });
  if (cameraImages > 0) {
    // The same products as a 1 MP camera writes them: upscaled, JPEG.
    for (const split of ['train', 'test'])
      for (const kind of readdirSync(join(dataset, TYPE, split)))
        for (const name of readdirSync(join(dataset, TYPE, split, kind))) {
          const path = join(dataset, TYPE, split, kind, name);
          const image = await sharp(path)
            .resize(CAMERA_SIDE, CAMERA_SIDE)
            .jpeg({ quality: 92 })
            .toBuffer();
          rmSync(path);
          await sharp(image).toFile(path.replace(/\.png$/, '.jpg'));
        }
  }
  // Camera images: retrained as a new type is, from its good images only, so the model learns
  // each place and checks the views as a line's first model does (a type with defect labels
  // learns those instead, and tries neither).
  let root = join(dataset, TYPE);
  if (cameraImages > 0) {
    root = join(work, 'good-only', TYPE);
    const good = join(root, 'train', 'good');
    mkdirSync(good, { recursive: true });
    for (const split of ['train', 'test'])
      for (const name of readdirSync(join(dataset, TYPE, split, 'good')))
        copyFileSync(join(dataset, TYPE, split, 'good', name), join(good, `${split}-${name}`));
  }
  const imported = await router.invoke('datasets/import', { root, objectType: TYPE });
  jobOutcome(await services.ctx.jobs.settled(imported.jobId));
  const retrain = await router.invoke(
    'retrain/start',
    // Camera images at the product's default size; the small synthetic ones at their own.
    {
      objectType: TYPE,
      ...(cameraImages > 0 ? {} : { inputSize: SIZE }),
      ...(views ? { views: views as ViewsChoice } : {}),
    },
  );
  const model = jobOutcome<RetrainSummary>(await services.ctx.jobs.settled(retrain.jobId));
  // The test split first: its defects are flagged and get heatmap overlays written, as on a line.
  const sources: string[] = [];
  for (const split of ['test', 'train'])
    for (const kind of readdirSync(join(dataset, TYPE, split)))
      for (const name of readdirSync(join(dataset, TYPE, split, kind)))
        sources.push(join(dataset, TYPE, split, kind, name));
  console.error(`model ${model.modelId} fitted; ${sources.length} distinct images`);

  for (const n of sizes) {
    const folder = join(work, `camera-${n}`);
    mkdirSync(folder);
    for (let i = 0; i < n; i++)
      copyFileSync(
        sources[i % sources.length]!,
        join(folder, `img-${String(i).padStart(6, '0')}${cameraImages > 0 ? '.jpg' : '.png'}`),
      );
    // The host is already warm (it fitted the model), so the time is scanning, not start-up.
    let peak = treeRss(process.pid);
    const sampler = setInterval(() => (peak = Math.max(peak, treeRss(process.pid))), 250);
    const started = performance.now();
    const { jobId } = await router.invoke('inspect/start', { folder, objectType: TYPE });
    const summary = jobOutcome<InspectSummary>(await services.ctx.jobs.settled(jobId));
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    peak = Math.max(peak, treeRss(process.pid));
    const row = {
      images: n,
      megapixels: cameraImages > 0 ? (CAMERA_SIDE * CAMERA_SIDE) / 1e6 : (SIZE * SIZE) / 1e6,
      img_s: Math.round((summary.scored / seconds) * 10) / 10,
      s_per_image: Math.round((seconds / summary.scored) * 1000) / 1000,
      peak_rss_mb: Math.round(peak / 2 ** 20),
      viewed: model.places?.viewed === true,
    };
    console.error(
      `${n} images: ${summary.scored} scored (${summary.flagged} DEFECT, ${summary.unsure} UNSURE) in ${seconds.toFixed(1)} s`,
    );
    results.push(row);
    rmSync(folder, { recursive: true, force: true });
  }
} finally {
  await services.close();
  rmSync(work, { recursive: true, force: true });
}
console.log(JSON.stringify({ results }));
