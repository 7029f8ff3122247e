// The train wizard: what to train with sensible defaults, the advanced settings, and the job it
// started. One-class models are fitted by retrain/start; the other methods by train/start.
import {
  DETAIL_LEVELS,
  type DetailLevel,
  type TrainMethod,
  type TrainRequest,
} from '../../../src-main/shared/dto.js';
import type { ContractClient } from '../api/client.js';
import type { AppManager } from './app-manager.svelte.js';
import type { JobsManager } from './jobs-manager.svelte.js';

export type TrainChoice = TrainMethod | 'one-class';

export const trainChoices: { value: TrainChoice; title: string; detail: string }[] = [
  {
    value: 'one-class',
    title: 'One-class model for a type',
    detail:
      'Learns what good looks like from good images (≥ 10). The usual choice; minutes on a CPU.',
  },
  {
    value: 'simclr',
    title: 'SimCLR encoder across types',
    detail:
      'Self-supervised pretraining on all images, no labels needed; every detector can use it.',
  },
  {
    value: 'classifier',
    title: 'Classifier head',
    detail:
      'Encoder + small dense head on good and defect labels (the seed paper’s downstream task).',
  },
  {
    value: 'baseline',
    title: 'VGG-16 baseline',
    detail: 'The seed paper’s CNN baseline trained from scratch, for comparison.',
  },
];

const defaults = {
  simclr: { epochs: 10, batchSize: 32, inputSize: 128, learningRate: 0.001, encoder: 'resnet' },
  classifier: {
    epochs: 10,
    batchSize: 16,
    inputSize: 128,
    learningRate: 0.001,
    encoder: 'mobilenetv3',
  },
  baseline: { epochs: 10, batchSize: 16, inputSize: 128, learningRate: 0.0001, encoder: '' },
} satisfies Record<TrainMethod, object>;

export class TrainingManager {
  choice = $state<TrainChoice>('one-class');
  /** One-class: input size and scales (see DETAIL_LEVELS). */
  detail = $state<DetailLevel>('standard');
  objectTypes = $state<string[]>([]);
  epochs = $state(10);
  batchSize = $state(16);
  inputSize = $state(128);
  learningRate = $state(0.001);
  encoder = $state('mobilenetv3');
  fineTune = $state(false);
  temperature = $state(0.5);
  validationFraction = $state(0.2);
  limitPerType = $state<number | null>(null);
  seed = $state(1);
  jobId = $state<string | null>(null);

  constructor(
    private readonly client: ContractClient,
    private readonly app: AppManager,
    private readonly jobs: JobsManager,
  ) {}

  get job() {
    return this.jobId
      ? this.jobs.jobs[this.jobId]
      : (this.jobs.latest('train') ?? this.jobs.latest('retrain'));
  }

  get losses() {
    const job = this.job;
    return job ? (this.jobs.losses[job.id] ?? []) : [];
  }

  choose(choice: TrainChoice): void {
    this.choice = choice;
    if (choice !== 'one-class') Object.assign(this, defaults[choice]);
  }

  request(): TrainRequest | null {
    if (this.choice === 'one-class') return null;
    return {
      method: this.choice,
      ...(this.objectTypes.length > 0 ? { objectTypes: this.objectTypes } : {}),
      epochs: this.epochs,
      batchSize: this.batchSize,
      inputSize: this.inputSize,
      learningRate: this.learningRate,
      ...(this.choice !== 'baseline' ? { encoder: this.encoder } : {}),
      seed: this.seed,
      ...(this.choice === 'simclr' ? { temperature: this.temperature } : {}),
      ...(this.choice === 'classifier' ? { fineTune: this.fineTune } : {}),
      ...(this.choice !== 'simclr' ? { validationFraction: this.validationFraction } : {}),
      ...(this.limitPerType ? { limitPerType: this.limitPerType } : {}),
    };
  }

  async start(): Promise<void> {
    const request = this.request();
    let started;
    if (request) {
      started = await this.app.attempt(() => this.client.invoke('train/start', request));
    } else {
      const objectType = this.objectTypes[0];
      if (!objectType) return this.app.notify('Pick the object type to fit a one-class model for.');
      started = await this.app.attempt(() =>
        this.client.invoke('retrain/start', { objectType, ...DETAIL_LEVELS[this.detail].retrain }),
      );
    }
    if (!started) return;
    this.jobId = started.jobId;
    await this.jobs.track(started.jobId);
  }

  async cancel(): Promise<void> {
    if (this.job) await this.jobs.cancel(this.job.id);
  }
}
