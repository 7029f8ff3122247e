// The review queue: flagged and unsure results without a verdict, the least certain first.
// A verdict is saved at once and the next image comes up; skip moves on without one.
import type { InspectionResultDto, Verdict } from '../../../src-main/shared/dto.js';
import type { ContractClient } from '../api/client.js';
import type { AppManager } from './app-manager.svelte.js';

/** UNSURE before DEFECT; within each, closest to the threshold (0.5) first. */
function uncertainFirst(a: InspectionResultDto, b: InspectionResultDto): number {
  const rank = (r: InspectionResultDto) => (r.decision === 'UNSURE' ? 0 : 1);
  const doubt = (r: InspectionResultDto) => Math.abs((r.score ?? 1) - 0.5);
  return rank(a) - rank(b) || doubt(a) - doubt(b);
}

export class ReviewManager {
  queue = $state<InspectionResultDto[]>([]);
  index = $state(0);
  zoom = $state(false);
  showHeatmap = $state(true);
  reviewed = $state(0);
  loaded = $state(false);
  saving = $state(false);
  /** The verdicts given in this session, newest first, to show what was just saved. */
  recent = $state<{ path: string; verdict: Verdict; who: string }[]>([]);

  constructor(
    private readonly client: ContractClient,
    private readonly app: AppManager,
  ) {
    client.on('inspect/result', (result) => {
      // New flags join the queue while an inspection runs.
      if (result.decision && result.decision !== 'OK' && !result.review && this.loaded) {
        if (!this.queue.some((r) => r.id === result.id)) this.queue = [...this.queue, result];
      }
    });
  }

  get current(): InspectionResultDto | undefined {
    return this.queue[this.index];
  }

  async load(): Promise<void> {
    const queue = await this.app.attempt(() => this.client.invoke('review/queue', { limit: 500 }));
    this.loaded = true;
    if (!queue) return;
    this.queue = queue.filter((r) => !r.review).sort(uncertainFirst);
    this.index = 0;
  }

  async verdict(verdict: Verdict): Promise<void> {
    const result = this.current;
    if (!result || this.saving) return;
    this.saving = true;
    const review = await this.app.attempt(() =>
      this.client.invoke('review/verdict', { resultId: result.id, verdict }),
    );
    this.saving = false;
    if (!review) return;
    this.reviewed++;
    this.recent = [{ path: result.path, verdict, who: review.who }, ...this.recent].slice(0, 8);
    this.queue = this.queue.filter((r) => r.id !== result.id);
    if (this.index >= this.queue.length) this.index = Math.max(0, this.queue.length - 1);
  }

  skip(): void {
    this.move(1);
  }

  move(step: number): void {
    if (this.queue.length === 0) return;
    this.index = (this.index + step + this.queue.length) % this.queue.length;
  }
}
