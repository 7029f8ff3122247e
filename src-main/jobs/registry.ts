// The job registry: long work (import, training, evaluation, retraining, inspection) runs as a
// job with an id, progress with rate and ETA, a log, and cancel. Every change is written to the
// jobs table and pushed as a typed event, so the UI and a restarted app see the same story.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Emit } from '../shared/contract.js';
import {
  finishedJobStatuses,
  type JobDto,
  type JobFailure,
  type JobKind,
  type JobKinds,
  type JobProgress,
  type JobQuery,
} from '../shared/dto.js';
import { BadArgumentError, NotFoundError, toWireError } from '../shared/errors.js';
import type { JobsRepo } from '../store/repos/jobs.repo.js';

/** What running work sees of its job. */
export interface JobControl {
  readonly id: string;
  /** Aborted when the inspector cancels (or the app closes); stop at the next safe point. */
  readonly signal: AbortSignal;
  /** `total` 0 means unknown; `message` says what is being done now. */
  progress(done: number, total: number, message?: string | null): void;
  log(line: string): void;
}

export type JobWork<K extends JobKind> = (job: JobControl) => Promise<JobKinds[K]['result']>;

export interface StartOptions {
  /**
   * Jobs in the same lane run one at a time, oldest first; the others wait as 'queued'. Heavy
   * engine work shares one lane so two trainings never fight over the same memory and cores.
   */
  lane?: string;
}

export interface JobRegistryOptions {
  /** Milliseconds; injectable so tests can check rate and ETA. */
  now?: () => number;
  /** Progress is written and pushed at most this often (the final value always is). */
  progressIntervalMs?: number;
  /** Seconds of progress the rate is measured over. */
  rateWindowSeconds?: number;
  /** Decides whether the process that owns an unfinished job still runs. */
  isOwnerAlive?: (owner: string) => boolean;
}

/** The lane of jobs that train or fit models in the engine. */
export const ENGINE_LANE = 'engine';

interface Sample {
  at: number;
  done: number;
}

interface LiveJob {
  id: string;
  kind: JobKind;
  lane: string | undefined;
  controller: AbortController;
  work: (job: JobControl) => Promise<unknown>;
  progress: Pick<JobProgress, 'done' | 'total' | 'message'>;
  samples: Sample[];
  lastFlush: number;
  flushTimer: NodeJS.Timeout | undefined;
  dirty: boolean;
  /** Set when shutdown marked it interrupted: its late ending changes nothing. */
  abandoned: boolean;
  settled: Promise<JobDto>;
  resolveSettled: (job: JobDto) => void;
}

/** "host/pid/token": the token tells registries of one process apart. */
function ownerId(): string {
  return `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
}

/** A job whose owner is on this machine runs as long as its process does. */
export function ownerAlive(owner: string): boolean {
  const [host, pidText] = owner.split('/');
  if (host !== hostname()) return true; // another machine: not ours to judge
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isCancellation(error: unknown, signal: AbortSignal): boolean {
  const code = toWireError(error).code;
  if (code === 'cancelled') return true;
  // Work may fail in its own way once aborted (a closed stream); the inspector asked for a stop.
  return signal.aborted && code !== 'engine';
}

export class JobRegistry {
  readonly owner = ownerId();
  private readonly live = new Map<string, LiveJob>();
  private readonly lanes = new Map<string, LiveJob[]>();
  private readonly busyLanes = new Set<string>();
  private readonly now: () => number;
  private readonly progressIntervalMs: number;
  private readonly rateWindowMs: number;
  /** Jobs found unfinished at start-up whose process had gone; now 'interrupted'. */
  readonly recovered: JobDto[];

  constructor(
    private readonly repo: JobsRepo,
    private readonly emit: Emit,
    options: JobRegistryOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.progressIntervalMs = options.progressIntervalMs ?? 250;
    this.rateWindowMs = (options.rateWindowSeconds ?? 20) * 1000;
    this.recovered = this.interruptOrphans(options.isOwnerAlive ?? ownerAlive);
  }

  /** Creates a job and runs `work` as soon as its lane is free. */
  start<K extends JobKind>(
    kind: K,
    args: JobKinds[K]['args'],
    work: JobWork<K>,
    options: StartOptions = {},
  ): JobDto<K> {
    const id = randomUUID();
    this.repo.insert({ id, kind, args, owner: this.owner, at: this.isoNow() });
    return this.enqueue(id, kind, work, options);
  }

  /**
   * Runs an interrupted job again under the same id (the inspection issue resumes interrupted
   * inspections this way); `work` reads what was already committed and carries on from there.
   */
  resume<K extends JobKind>(
    jobId: string,
    work: JobWork<K>,
    options: StartOptions = {},
  ): JobDto<K> {
    const job = this.repo.get(jobId);
    if (!job) throw new NotFoundError(`No job ${jobId}.`);
    if (job.status !== 'interrupted') {
      throw new BadArgumentError(`Job ${jobId} is ${job.status}; only interrupted jobs resume.`);
    }
    this.repo.requeue(jobId, this.owner, this.isoNow());
    return this.enqueue(jobId, job.kind as K, work, options);
  }

  /** Stops a queued job at once, a running one at its next safe point. */
  cancel(jobId: string): JobDto {
    const live = this.live.get(jobId);
    if (!live) {
      const stored = this.repo.stored(jobId);
      if (!stored) throw new NotFoundError(`No job ${jobId}.`);
      if (finishedJobStatuses.includes(stored.dto.status)) return stored.dto;
      throw new BadArgumentError(
        `Job ${jobId} runs in another DefectScope process (${stored.owner ?? 'unknown'}); cancel it there.`,
      );
    }
    const queue = live.lane ? this.lanes.get(live.lane) : undefined;
    const waiting = queue?.indexOf(live) ?? -1;
    if (waiting >= 0) {
      queue!.splice(waiting, 1);
      live.controller.abort();
      this.end(live, 'cancelled', {
        error: { code: 'cancelled', message: 'Cancelled before it started.' },
      });
    } else {
      live.controller.abort();
    }
    return this.get(jobId)!;
  }

  /** The job with its live rate and ETA (null once it is not running here). */
  get(jobId: string): JobDto | undefined {
    const live = this.live.get(jobId);
    return this.repo.get(jobId, live ? this.rateOf(live) : undefined);
  }

  getWithLog(jobId: string): (JobDto & { log: string }) | undefined {
    const job = this.get(jobId);
    return job && { ...job, log: this.repo.log(jobId) ?? '' };
  }

  list(query: JobQuery = {}): JobDto[] {
    return this.repo.list(query).map((job) => {
      const live = this.live.get(job.id);
      return live ? { ...job, progress: { ...job.progress, ...this.rateOf(live) } } : job;
    });
  }

  /** Jobs of a kind that stopped because their process did; resume them with `resume`. */
  interruptedJobs<K extends JobKind>(kind: K): JobDto<K>[] {
    return this.repo.withStatus(kind, 'interrupted');
  }

  /** Resolves with the job once it has ended (at once for an ended job). */
  settled(jobId: string): Promise<JobDto> {
    const live = this.live.get(jobId);
    if (live) return live.settled;
    const job = this.repo.get(jobId);
    if (!job) return Promise.reject(new NotFoundError(`No job ${jobId}.`));
    if (finishedJobStatuses.includes(job.status)) return Promise.resolve(job);
    return Promise.reject(
      new BadArgumentError(
        `Job ${jobId} runs in another DefectScope process; it cannot be awaited here.`,
      ),
    );
  }

  /** Jobs running or waiting in this process. */
  get active(): number {
    return this.live.size;
  }

  /**
   * The app is closing: every job of this process is recorded as interrupted now (the process
   * may not live to see the work stop) and its work is told to stop.
   */
  shutdown(reason = 'DefectScope was closed while this job ran. Start it again.'): void {
    for (const live of [...this.live.values()]) {
      this.end(live, 'interrupted', { error: { code: 'interrupted', message: reason } });
      live.abandoned = true;
      live.controller.abort();
    }
    this.lanes.clear();
    this.busyLanes.clear();
  }

  private enqueue<K extends JobKind>(
    id: string,
    kind: K,
    work: JobWork<K>,
    options: StartOptions,
  ): JobDto<K> {
    let resolveSettled!: (job: JobDto) => void;
    const settled = new Promise<JobDto>((resolve) => (resolveSettled = resolve));
    const live: LiveJob = {
      id,
      kind,
      lane: options.lane,
      controller: new AbortController(),
      work,
      progress: { done: 0, total: 0, message: null },
      samples: [],
      lastFlush: -Infinity,
      flushTimer: undefined,
      dirty: false,
      abandoned: false,
      settled,
      resolveSettled,
    };
    this.live.set(id, live);
    const queued = this.repo.get(id)!;
    this.emit('job/queued', queued);
    if (!live.lane) {
      void this.run(live);
    } else {
      const queue = this.lanes.get(live.lane) ?? [];
      queue.push(live);
      this.lanes.set(live.lane, queue);
      this.pump(live.lane);
    }
    return queued as JobDto<K>;
  }

  private pump(lane: string): void {
    if (this.busyLanes.has(lane)) return;
    const next = this.lanes.get(lane)?.shift();
    if (!next) return;
    this.busyLanes.add(lane);
    void this.run(next);
  }

  private async run(live: LiveJob): Promise<void> {
    this.repo.markRunning(live.id, this.owner, this.isoNow());
    this.emit('job/started', this.get(live.id)!);
    const control: JobControl = {
      id: live.id,
      signal: live.controller.signal,
      progress: (done, total, message) => this.progress(live, done, total, message ?? null),
      log: (line) => this.log(live, line),
    };
    try {
      const result = await live.work(control);
      this.end(live, 'done', { result });
    } catch (error) {
      const wire = toWireError(error);
      if (isCancellation(error, live.controller.signal)) {
        this.end(live, 'cancelled', { error: { code: 'cancelled', message: wire.message } });
      } else {
        this.end(live, 'failed', { error: wire });
      }
    } finally {
      if (live.lane && !live.abandoned) {
        this.busyLanes.delete(live.lane);
        this.pump(live.lane);
      }
    }
  }

  private end(
    live: LiveJob,
    status: 'done' | 'failed' | 'cancelled' | 'interrupted',
    outcome: { result?: unknown; error?: JobFailure },
  ): void {
    if (live.abandoned) return;
    clearTimeout(live.flushTimer);
    if (live.dirty) this.flush(live);
    this.repo.finish(live.id, status, outcome, this.isoNow());
    this.live.delete(live.id);
    const job = this.repo.get(live.id)!;
    this.emit('job/done', job);
    live.resolveSettled(job);
  }

  private progress(live: LiveJob, done: number, total: number, message: string | null): void {
    if (live.abandoned || !this.live.has(live.id)) return;
    const previous = live.progress;
    // A new phase (another total, or counting from zero again) has its own rate.
    if (total !== previous.total || done < previous.done) live.samples = [];
    const at = this.now();
    live.samples.push({ at, done });
    while (live.samples.length > 2 && at - live.samples[0]!.at > this.rateWindowMs)
      live.samples.shift();
    live.progress = { done, total, message };
    live.dirty = true;
    const wait = live.lastFlush + this.progressIntervalMs - at;
    if (wait <= 0 || (total > 0 && done >= total)) {
      clearTimeout(live.flushTimer);
      live.flushTimer = undefined;
      this.flush(live);
    } else if (!live.flushTimer) {
      live.flushTimer = setTimeout(() => {
        live.flushTimer = undefined;
        if (this.live.has(live.id)) this.flush(live);
      }, wait);
    }
  }

  private flush(live: LiveJob): void {
    live.dirty = false;
    live.lastFlush = this.now();
    this.repo.setProgress(live.id, live.progress, this.isoNow());
    this.emit('job/progress', {
      jobId: live.id,
      kind: live.kind,
      progress: { ...live.progress, ...this.rateOf(live) },
    });
  }

  private rateOf(live: LiveJob): Pick<JobProgress, 'rate' | 'etaSeconds'> {
    const first = live.samples[0];
    const last = live.samples.at(-1);
    if (!first || !last || last.at <= first.at) return { rate: null, etaSeconds: null };
    const rate = ((last.done - first.done) * 1000) / (last.at - first.at);
    const { done, total } = live.progress;
    const etaSeconds = rate > 0 && total > 0 ? Math.max(0, total - done) / rate : null;
    return { rate, etaSeconds };
  }

  private log(live: LiveJob, line: string): void {
    if (live.abandoned || !this.live.has(live.id)) return;
    const at = this.isoNow();
    this.repo.appendLog(live.id, `${at} ${line}\n`);
    this.emit('job/log', { jobId: live.id, kind: live.kind, line, at });
  }

  /** Start-up: queued and running jobs whose process has gone will never finish. */
  private interruptOrphans(isOwnerAlive: (owner: string) => boolean): JobDto[] {
    const recovered: JobDto[] = [];
    for (const { dto, owner } of this.repo.unfinished()) {
      if (owner && isOwnerAlive(owner)) continue;
      this.repo.finish(
        dto.id,
        'interrupted',
        {
          error: {
            code: 'interrupted',
            message: `DefectScope stopped while this job was ${dto.status === 'queued' ? 'waiting' : 'running'}; what it had saved is kept. Start it again.`,
          },
        },
        this.isoNow(),
      );
      const job = this.repo.get(dto.id)!;
      this.emit('job/done', job);
      recovered.push(job);
    }
    return recovered;
  }

  private isoNow(): string {
    return new Date(this.now()).toISOString();
  }
}
