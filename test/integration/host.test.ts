// The engine host as the app uses it: a forked process behind the router and the job registry.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openServices, type AppServices } from '../../src-main/api/services.js';
import type { EventName, Events } from '../../src-main/shared/contract.js';
import { CancelledError } from '../../src-main/shared/errors.js';
import { tempDir } from '../fixtures/images.js';

let services: AppServices;
const seen: { name: EventName; payload: unknown }[] = [];
const events = <E extends EventName>(name: E) =>
  seen.filter((e) => e.name === name).map((e) => e.payload as Events[E]);

beforeAll(async () => {
  services = openServices({ dataDir: tempDir(), jobs: { progressIntervalMs: 0 } });
  services.ctx.events.onAny((name, payload) => seen.push({ name, payload }));
  // The pure-JS backend starts fastest and is the same on every machine.
  await services.router.invoke('settings/set', { backend: 'cpu', inspector: 'test-inspector' });
});

afterAll(async () => {
  await services?.close();
});

/** Waits until `predicate` holds, polling; long enough for a host to start on a busy machine. */
async function until(predicate: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function writeFolder(root: string): Promise<void> {
  for (const [dir, n] of [
    ['good', 4],
    ['defect', 2],
  ] as const) {
    mkdirSync(join(root, dir), { recursive: true });
    for (let i = 0; i < n; i++) {
      await sharp({
        create: {
          width: 20,
          height: 16,
          channels: 3,
          background: { r: 30 * i, g: dir.length * 25, b: 7 },
        },
      })
        .png()
        .toFile(join(root, dir, `${i}.png`));
    }
  }
  writeFileSync(join(root, 'defect', 'truncated.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
}

describe('engine host', () => {
  it('answers app/info from a separate process on the chosen backend', async () => {
    const info = await services.router.invoke('app/info', {});
    expect(info.engine.pid).not.toBe(process.pid);
    expect(info.engine.pid).toBe(services.ctx.engine.pid);
    expect(info.engine.backend).toMatchObject({ name: 'cpu' });
    expect(info.data.schemaVersion).toBeGreaterThanOrEqual(2);
    expect(events('engine/state').at(-1)).toMatchObject({ state: 'started', pid: info.engine.pid });
  });

  it('runs a task in the host and returns its result, with progress and no leaked tensors', async () => {
    const progress: number[] = [];
    const result = await services.ctx.engine.run(
      'self-check',
      { steps: 30, size: 16 },
      { onProgress: (done) => progress.push(done) },
    );
    expect(result).toMatchObject({ backend: 'cpu', steps: 30, leakedTensors: 0 });
    expect(progress.at(-1)).toBe(30);
    expect((await services.ctx.engine.memory()).numTensors).toBe(0);
  });

  it('imports a folder as a job: files are read in the host, recorded by the main side', async () => {
    const root = join(tempDir(), 'widget');
    await writeFolder(root);
    const { jobId } = await services.router.invoke('datasets/import', { root });
    const job = await services.ctx.jobs.settled(jobId);
    expect(job).toMatchObject({ status: 'done', kind: 'import' });
    expect(job.result).toMatchObject({
      layout: 'folders',
      added: 6,
      labelsAdded: 6,
      objectTypes: ['widget'],
    });
    // A broken file is reported and skipped; the others are recorded.
    expect(job.kind === 'import' && job.result?.failed.map((f) => f.path)).toEqual([
      join(root, 'defect', 'truncated.png'),
    ]);
    expect(events('job/progress').some((e) => e.jobId === jobId && e.progress.total === 7)).toBe(
      true,
    );
    expect(events('datasets/changed')).toContainEqual({ objectTypes: ['widget'] });

    const [widget] = await services.router.invoke('datasets/types', {});
    expect(widget).toMatchObject({ name: 'widget', images: 6 });
    const first = await services.router.invoke('datasets/images', { label: 'defect', limit: 1 });
    expect(first).toMatchObject({ offset: 0, nextOffset: 1 });
    const second = await services.router.invoke('datasets/images', {
      label: 'defect',
      offset: 1,
      limit: 1,
    });
    expect(second.nextOffset).toBeNull();
    const relabel = await services.router.invoke('datasets/relabel', {
      imageIds: [first.items[0]!.id],
      label: 'good',
    });
    expect(relabel).toEqual({ changed: 1 });

    const stored = await services.router.invoke('jobs/get', { jobId });
    expect(stored.log).toMatch(/6 new images/);
    const listed = await services.router.invoke('jobs/list', { kinds: ['import'] });
    expect(listed.items.map((j) => j.id)).toContain(jobId);
  });

  it('trains a classifier as a job in the host and leaves no tensors behind', async () => {
    const { jobId } = await services.router.invoke('train/start', {
      method: 'classifier',
      objectTypes: ['widget'],
      encoder: 'resnet',
      inputSize: 32,
      epochs: 1,
      batchSize: 2,
    });
    const job = await services.ctx.jobs.settled(jobId);
    expect(job).toMatchObject({ status: 'done', kind: 'train' });
    expect(job.kind === 'train' && job.result).toMatchObject({
      kind: 'classifier',
      objectTypes: ['widget'],
      modelDir: expect.stringContaining(services.ctx.store.paths.models),
    });
    expect((await services.ctx.engine.memory()).numTensors).toBe(0);
  });

  it('fails the running job with the reason when the host is killed, and restarts it on the next call', async () => {
    const { engine, jobs } = services.ctx;
    const before = engine.pid;
    // A job whose work is a long task in the host: the kind does not matter to the registry.
    const job = jobs.start(
      'eval',
      { root: '/unused', pretrainTypes: [], testTypes: ['x'], detector: 'one-class' },
      (control) =>
        engine.run(
          'self-check',
          { steps: 10_000_000, size: 16 },
          { signal: control.signal, onProgress: control.progress },
        ) as never,
    );
    await until(() => (jobs.get(job.id)?.progress.done ?? 0) > 0, 'the task to report progress');
    process.kill(engine.pid!, 'SIGKILL');
    const failed = await jobs.settled(job.id);
    expect(failed).toMatchObject({
      status: 'failed',
      error: {
        code: 'engine',
        message: expect.stringMatching(/stopped while running self-check.*SIGKILL/),
      },
    });
    expect(events('engine/state').at(-1)).toMatchObject({ state: 'crashed', pid: before });
    // What was committed before the crash is still there.
    expect((await services.router.invoke('datasets/types', {}))[0]).toMatchObject({ images: 6 });

    const info = await services.router.invoke('app/info', {});
    expect(info.engine.pid).not.toBe(before);
    expect(info.engine.backend.name).toBe('cpu');
  });

  it('forwards a cancel to the host, which stops the task and stays up', async () => {
    const { engine, jobs } = services.ctx;
    const pid = engine.pid;
    const controller = new AbortController();
    const run = engine.run(
      'self-check',
      { steps: 10_000_000, size: 16 },
      { signal: controller.signal, onProgress: (done) => done > 5 && controller.abort() },
    );
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(engine.pid).toBe(pid);
    expect((await engine.memory()).numTensors).toBe(0);

    // The same through jobs/cancel.
    const job = jobs.start(
      'eval',
      { root: '/unused', pretrainTypes: [], testTypes: ['x'], detector: 'one-class' },
      (control) =>
        engine.run(
          'self-check',
          { steps: 10_000_000, size: 16 },
          { signal: control.signal, onProgress: control.progress },
        ) as never,
    );
    await until(() => (jobs.get(job.id)?.progress.done ?? 0) > 0, 'the task to report progress');
    await services.router.invoke('jobs/cancel', { jobId: job.id });
    expect(await jobs.settled(job.id)).toMatchObject({
      status: 'cancelled',
      error: { code: 'cancelled' },
    });
    expect(engine.pid).toBe(pid);
  });

  it('answers bad calls with typed errors', async () => {
    const { router } = services;
    expect(await router.answer('datasets/frobnicate', {})).toMatchObject({
      ok: false,
      error: { code: 'bad-argument' },
    });
    expect(await router.answer('datasets/import', { root: 42 })).toMatchObject({
      ok: false,
      error: { code: 'bad-argument', message: expect.stringMatching(/root/) },
    });
    expect(await router.answer('datasets/import', { root: join(tempDir(), 'nope') })).toMatchObject(
      {
        ok: false,
        error: { code: 'not-found' },
      },
    );
    // The training test above registered its model.
    expect(await router.answer('models/list', {})).toMatchObject({
      ok: true,
      value: [expect.objectContaining({ kind: 'classifier', status: 'ready' })],
    });
    expect(await router.answer('models/activate', { modelId: 99_999 })).toMatchObject({
      ok: false,
      error: { code: 'not-found' },
    });
    expect(
      await router.answer('datasets/relabel', { imageIds: [99_999], label: 'good' }),
    ).toMatchObject({
      ok: false,
      error: { code: 'not-found' },
    });
    expect(await router.answer('settings/get', {})).toEqual({
      ok: true,
      value: { inspector: 'test-inspector', backend: 'cpu', unsureBand: 0.05 },
    });
  });
});
