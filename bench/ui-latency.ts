// How fast the app answers the UI while the engine trains: starts `defectscope serve`'s HTTP
// bridge on a fresh data folder with a generated dataset, starts a SimCLR training job, and times
// the calls a view makes (datasets/types, jobs/list, models/list, settings/get) over HTTP until
// the job ends. Prints one JSON object on its last line: latency percentiles in milliseconds.
// Usage: npx tsx bench/ui-latency.ts [--epochs N]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHttpBridge, TOKEN_HEADER } from '../src-main/api/http-bridge.js';
import { openServices } from '../src-main/api/services.js';
import { generateDataset } from '../src-main/data/synthetic/generate.js';

const epochs = Number(process.argv[process.argv.indexOf('--epochs') + 1] || 2);
const root = mkdtempSync(join(tmpdir(), 'defectscope-latency-'));
await generateDataset(join(root, 'samples'), {
  seed: 1,
  perType: 16,
  size: 128,
  types: ['grid', 'nut'],
});
const services = openServices({ dataDir: join(root, 'data') });
const bridge = await startHttpBridge({ services });
const call = async (name: string, args: unknown) => {
  const response = await fetch(`http://127.0.0.1:${bridge.port}/rpc/${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [TOKEN_HEADER]: bridge.token },
    body: JSON.stringify(args),
  });
  if (!response.ok) throw new Error(`${name}: HTTP ${response.status} ${await response.text()}`);
  return response.json();
};

const imported = (await call('datasets/import', {
  root: join(root, 'samples'),
  layout: 'mvtec',
})) as { value: { jobId: string } };
await services.ctx.jobs.settled(imported.value.jobId);
const started = (await call('train/start', {
  method: 'simclr',
  epochs,
  inputSize: 64,
  batchSize: 16,
})) as { value: { jobId: string } };
const jobId = started.value.jobId;

const calls: [string, unknown][] = [
  ['datasets/types', {}],
  ['jobs/list', { limit: 20 }],
  ['models/list', {}],
  ['settings/get', {}],
];
const latencies: number[] = [];
let running = true;
const settled = services.ctx.jobs.settled(jobId).then((job) => {
  running = false;
  return job;
});
while (running) {
  for (const [name, args] of calls) {
    const t0 = performance.now();
    await call(name, args);
    latencies.push(performance.now() - t0);
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
}
const job = await settled;
latencies.sort((a, b) => a - b);
const at = (q: number) =>
  +latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(1);
await bridge.close();
await services.close();
console.log(
  JSON.stringify({
    job: job.status,
    calls: latencies.length,
    p50_ms: at(0.5),
    p95_ms: at(0.95),
    p99_ms: at(0.99),
    max_ms: +latencies.at(-1)!.toFixed(1),
  }),
);
process.exit(0);
