import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventName, Events } from '../../src-main/shared/contract.js';
import { CancelledError, EngineError } from '../../src-main/shared/errors.js';
import { openDatabase, type Database } from '../../src-main/store/db.js';
import { JobsRepo, LOG_LIMIT } from '../../src-main/store/repos/jobs.repo.js';
import { ENGINE_LANE, JobRegistry, type JobControl } from '../../src-main/jobs/registry.js';
import { describeExit } from '../../src-main/jobs/engine-client.js';

type Recorded = { [E in EventName]: { name: E; payload: Events[E] } }[EventName];

function setup(options: { now?: () => number; progressIntervalMs?: number } = {}) {
  const db = openDatabase(':memory:');
  const repo = new JobsRepo(db);
  const events: Recorded[] = [];
  const emit = <E extends EventName>(name: E, payload: Events[E]) =>
    events.push({ name, payload } as Recorded);
  const registry = new JobRegistry(repo, emit, { progressIntervalMs: 0, ...options });
  return { db, repo, events, registry };
}

/** Work that waits until the test lets it go, and sees its job. */
function controllable<T>() {
  let release!: (value: T) => void;
  let fail!: (error: unknown) => void;
  let control!: JobControl;
  const work = (job: JobControl) => {
    control = job;
    return new Promise<T>((resolve, reject) => {
      release = resolve;
      fail = reject;
      job.signal.addEventListener('abort', () =>
        reject(new CancelledError('Stopped by the inspector.')),
      );
    });
  };
  return { work, release: (v: T) => release(v), fail: (e: unknown) => fail(e), job: () => control };
}

const importArgs = { root: '/camera/line-3' };
const summary = {
  root: '/camera/line-3',
  layout: 'unlabeled' as const,
  objectTypes: ['tile'],
  seen: 3,
  added: 3,
  unchanged: 0,
  labelsAdded: 0,
  masksAdded: 0,
  failed: [],
};

let open: Database[] = [];
afterEach(() => {
  for (const db of open) db.close();
  open = [];
});

describe('job registry', () => {
  it('persists and pushes progress with rate and ETA, then the result', async () => {
    let clock = 1_000_000;
    const { db, registry, events } = setup({ now: () => clock });
    open.push(db);
    const work = controllable<typeof summary>();
    const { id } = registry.start('import', importArgs, work.work);
    expect(registry.get(id)!.status).toBe('running');

    work.job().progress(0, 100, 'hashing');
    clock += 2000;
    work.job().progress(40, 100, 'hashing');
    const running = registry.get(id)!;
    expect(running.progress).toMatchObject({
      done: 40,
      total: 100,
      rate: 20,
      etaSeconds: 3,
      message: 'hashing',
    });
    work.job().log('40 images hashed');

    work.release(summary);
    const done = await registry.settled(id);
    expect(done).toMatchObject({
      status: 'done',
      kind: 'import',
      args: importArgs,
      result: summary,
      error: null,
    });
    expect(done.finishedAt).not.toBeNull();
    // What a restarted app reads back from the table.
    const fresh = new JobsRepo(db);
    expect(fresh.get(id)).toMatchObject({
      status: 'done',
      result: summary,
      progress: { done: 40, total: 100 },
    });
    expect(fresh.log(id)).toMatch(/40 images hashed\n$/);

    expect(events.map((e) => e.name)).toEqual([
      'job/queued',
      'job/started',
      'job/progress',
      'job/progress',
      'job/log',
      'job/done',
    ]);
    const progress = events.filter((e) => e.name === 'job/progress').at(-1)!
      .payload as Events['job/progress'];
    expect(progress).toMatchObject({
      jobId: id,
      kind: 'import',
      progress: { done: 40, rate: 20, etaSeconds: 3 },
    });
  });

  it('writes frequent progress at most every interval, and always the last value', async () => {
    const { db, registry, events, repo } = setup({ progressIntervalMs: 60_000 });
    open.push(db);
    const work = controllable<typeof summary>();
    const { id } = registry.start('import', importArgs, work.work);
    for (let done = 1; done <= 500; done++) work.job().progress(done, 1000);
    expect(events.filter((e) => e.name === 'job/progress')).toHaveLength(1);
    expect(repo.get(id)!.progress.done).toBe(1);
    work.release(summary);
    await registry.settled(id);
    expect(repo.get(id)!.progress.done).toBe(500);
  });

  it('cancels a running job: its work is told, and the job ends cancelled', async () => {
    const { db, registry, events } = setup();
    open.push(db);
    const work = controllable<typeof summary>();
    const { id } = registry.start('import', importArgs, work.work);
    registry.cancel(id);
    expect(work.job().signal.aborted).toBe(true);
    const job = await registry.settled(id);
    expect(job).toMatchObject({
      status: 'cancelled',
      error: { code: 'cancelled', message: 'Stopped by the inspector.' },
    });
    expect(events.at(-1)).toMatchObject({ name: 'job/done', payload: { id, status: 'cancelled' } });
    // Cancelling an ended job changes nothing.
    expect(registry.cancel(id).status).toBe('cancelled');
  });

  it('records a failure with its typed reason', async () => {
    const { db, registry } = setup();
    open.push(db);
    const work = controllable<typeof summary>();
    const { id } = registry.start('import', importArgs, work.work);
    work.fail(
      new EngineError(
        'The engine process stopped while running import-probe: it was killed (SIGKILL).',
      ),
    );
    expect(await registry.settled(id)).toMatchObject({
      status: 'failed',
      error: { code: 'engine', message: expect.stringMatching(/SIGKILL/) },
    });
  });

  it('runs jobs of one lane one at a time; a queued one cancels without running', async () => {
    const { db, registry } = setup();
    open.push(db);
    const first = controllable<typeof summary>();
    const second = controllable<typeof summary>();
    const third = controllable<typeof summary>();
    const a = registry.start('import', importArgs, first.work, { lane: ENGINE_LANE });
    const b = registry.start('import', importArgs, second.work, { lane: ENGINE_LANE });
    const c = registry.start('import', importArgs, third.work, { lane: ENGINE_LANE });
    expect([a, b, c].map((j) => registry.get(j.id)!.status)).toEqual([
      'running',
      'queued',
      'queued',
    ]);
    expect(registry.cancel(c.id).status).toBe('cancelled');
    first.release(summary);
    await registry.settled(a.id);
    expect(registry.get(b.id)!.status).toBe('running');
    second.release(summary);
    expect((await registry.settled(b.id)).status).toBe('done');
    expect(third.job()).toBeUndefined(); // its work never ran
  });

  it('keeps the newest part of a long log', async () => {
    const { db, registry, repo } = setup();
    open.push(db);
    const work = controllable<typeof summary>();
    const { id } = registry.start('import', importArgs, work.work);
    const line = 'x'.repeat(1000);
    for (let i = 0; i < 400; i++) work.job().log(`${i} ${line}`);
    work.job().log('the last line');
    const log = repo.log(id)!;
    expect(log.length).toBeLessThanOrEqual(LOG_LIMIT);
    expect(log).toMatch(/the last line\n$/);
    work.release(summary);
    await registry.settled(id);
  });

  it('marks jobs of a process that is gone interrupted at start-up, and leaves a live one alone', () => {
    const db = openDatabase(':memory:');
    open.push(db);
    const repo = new JobsRepo(db);
    const at = new Date().toISOString();
    const gone = `${hostname()}/2147483000/dead`;
    const alive = `${hostname()}/${process.ppid}/other`;
    repo.insert({
      id: 'a1000000-0000-4000-8000-000000000001',
      kind: 'inspect',
      args: { folder: '/cam', objectType: 'tile' },
      owner: gone,
      at,
    });
    repo.markRunning('a1000000-0000-4000-8000-000000000001', gone, at);
    repo.insert({
      id: 'a1000000-0000-4000-8000-000000000002',
      kind: 'train',
      args: { method: 'simclr' },
      owner: gone,
      at,
    });
    repo.insert({
      id: 'a1000000-0000-4000-8000-000000000003',
      kind: 'inspect',
      args: { folder: '/cam2', objectType: 'nut' },
      owner: alive,
      at,
    });
    repo.markRunning('a1000000-0000-4000-8000-000000000003', alive, at);

    const events: string[] = [];
    const registry = new JobRegistry(repo, (name) => events.push(name));
    expect(registry.recovered.map((j) => j.id).sort()).toEqual([
      'a1000000-0000-4000-8000-000000000001',
      'a1000000-0000-4000-8000-000000000002',
    ]);
    expect(repo.get('a1000000-0000-4000-8000-000000000001')).toMatchObject({
      status: 'interrupted',
      error: {
        code: 'interrupted',
        message: expect.stringMatching(/stopped while this job was running/),
      },
    });
    expect(repo.get('a1000000-0000-4000-8000-000000000003')!.status).toBe('running');
    expect(events).toEqual(['job/done', 'job/done']);
    // The inspection issue resumes these.
    const interrupted = registry.interruptedJobs('inspect');
    expect(interrupted.map((j) => [j.id, j.args.folder])).toEqual([
      ['a1000000-0000-4000-8000-000000000001', '/cam'],
    ]);
  });

  it('resumes an interrupted job under the same id', async () => {
    const { db, registry, repo } = setup();
    open.push(db);
    const at = new Date().toISOString();
    const id = 'b1000000-0000-4000-8000-000000000001';
    repo.insert({ id, kind: 'import', args: importArgs, owner: 'gone/1/x', at });
    repo.finish(id, 'interrupted', { error: { code: 'interrupted', message: 'stopped' } }, at);
    const job = registry.resume(id, async () => summary);
    expect(job.id).toBe(id);
    expect(await registry.settled(id)).toMatchObject({
      status: 'done',
      result: summary,
      error: null,
    });
    expect(() => registry.resume(id, async () => summary)).toThrow(/only interrupted jobs resume/);
  });

  it('records jobs still running at shutdown as interrupted', async () => {
    const { db, registry, repo } = setup();
    open.push(db);
    const work = controllable<typeof summary>();
    const { id } = registry.start('import', importArgs, work.work);
    registry.shutdown();
    expect(work.job().signal.aborted).toBe(true);
    expect(repo.get(id)).toMatchObject({ status: 'interrupted', error: { code: 'interrupted' } });
    expect(registry.active).toBe(0);
  });
});

describe('engine host exits', () => {
  it('are explained in words an inspector can act on', () => {
    const oom =
      'FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory\n';
    expect(describeExit({ code: null, signal: 'SIGABRT' }, oom)).toMatch(/ran out of memory/);
    expect(describeExit({ code: null, signal: 'SIGKILL' }, '')).toMatch(/killed \(SIGKILL\)/);
    expect(
      describeExit({ code: 1, signal: null }, 'loading\nError: libcudart.so.11 missing\n'),
    ).toBe('it exited with code 1 (Error: libcudart.so.11 missing)');
  });
});
