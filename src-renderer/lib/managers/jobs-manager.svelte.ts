// Every job the UI has seen, kept current by job events: status, progress, ETA, and for training
// the loss curve read from its progress lines ("loss 0.4123, 12.0 img/s").
import type { JobDto, JobKind } from '../../../src-main/shared/dto.js';
import type { ContractClient } from '../api/client.js';
import type { AppManager } from './app-manager.svelte.js';

export interface LossPoint {
  step: number;
  loss: number;
}

const LOSS = /loss (-?\d+(?:\.\d+)?(?:e-?\d+)?)/;

export class JobsManager {
  jobs = $state<Record<string, JobDto>>({});
  losses = $state<Record<string, LossPoint[]>>({});
  private readonly doneListeners = new Set<(job: JobDto) => void>();

  constructor(
    private readonly client: ContractClient,
    private readonly app: AppManager,
  ) {
    const put = (job: JobDto) => (this.jobs[job.id] = job);
    client.on('job/queued', put);
    client.on('job/started', put);
    client.on('job/done', (job) => {
      put(job);
      this.lossesFromResult(job);
      this.doneListeners.forEach((listener) => listener(job));
      if (job.status === 'failed')
        this.app.notify(`${job.kind} failed: ${job.error?.message ?? ''}`);
    });
    client.on('job/progress', ({ jobId, progress }) => {
      const job = this.jobs[jobId];
      if (job) job.progress = progress;
      else void this.track(jobId);
      const loss = LOSS.exec(progress.message ?? '');
      if (loss) {
        const series = (this.losses[jobId] ??= []);
        if (series.at(-1)?.step !== progress.done)
          series.push({ step: progress.done, loss: Number(loss[1]) });
      }
    });
  }

  async load(): Promise<void> {
    const page = await this.app.attempt(() => this.client.invoke('jobs/list', { limit: 50 }));
    for (const job of page?.items ?? []) {
      this.jobs[job.id] = job;
      this.lossesFromResult(job);
    }
  }

  async track(jobId: string): Promise<void> {
    const job = await this.app.attempt(() => this.client.invoke('jobs/get', { jobId }));
    if (job) this.jobs[job.id] = job;
  }

  async cancel(jobId: string): Promise<void> {
    const job = await this.app.attempt(() => this.client.invoke('jobs/cancel', { jobId }));
    if (job) this.jobs[job.id] = job;
  }

  /** The newest job of a kind (the one a view shows when it opens). */
  latest(kind: JobKind): JobDto | undefined {
    return Object.values(this.jobs)
      .filter((job) => job.kind === kind)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
  }

  get running(): JobDto[] {
    return Object.values(this.jobs).filter((j) => j.status === 'running' || j.status === 'queued');
  }

  onDone(listener: (job: JobDto) => void): () => void {
    this.doneListeners.add(listener);
    return () => this.doneListeners.delete(listener);
  }

  /** A finished training run carries its whole loss curve; prefer it to the sampled one. */
  private lossesFromResult(job: JobDto): void {
    if (job.kind !== 'train' || !job.result) return;
    const losses = job.result.metrics.losses;
    if (!Array.isArray(losses)) return;
    const points = losses
      .map((loss, step) => ({ step: step + 1, loss: loss as number }))
      .filter((p) => typeof p.loss === 'number');
    if (points.length > 0) this.losses[job.id] = points;
  }
}
