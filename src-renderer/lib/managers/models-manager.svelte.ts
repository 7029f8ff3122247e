// Model versions per object type with their metrics; the curves of the selected model (from its
// validation scores, or from the labeled and reviewed results it scored in inspections);
// activate, roll back, retrain with the type's settings (detail, false-alarm rate, region of
// interest, tile scale, views).
import {
  DETAIL_LEVELS,
  type DetailLevel,
  type ModelDto,
  type ViewsChoice,
  type ZeroShotRegion,
} from '../../../src-main/shared/dto.js';
import { modelExpectation, type ModelExpectation } from '../../../src-main/shared/model-quality.js';
import { modelRoi, type Roi } from '../../../src-main/shared/roi.js';
import type { ContractClient } from '../api/client.js';
import type { Labelled } from '../curves.js';
import type { AppManager } from './app-manager.svelte.js';
import type { DatasetsManager, SampleImage } from './datasets-manager.svelte.js';
import type { JobsManager } from './jobs-manager.svelte.js';

/** Where a model's curves come from: its validation images, or the images it scored since. */
export type CurveSource = 'validation' | 'reviewed';

export class ModelsManager {
  objectType = $state<string | null>(null);
  models = $state<ModelDto[]>([]);
  selectedId = $state<number | null>(null);
  /** Where the threshold line is dragged to, on the 0..1 score scale. */
  threshold = $state(0.5);
  reviewed = $state<Labelled | null>(null);
  /** Which scores the curves are drawn from, where the model has both (curveData). */
  curveSource = $state<CurveSource>('validation');
  retrainJobId = $state<string | null>(null);
  retrainDetail = $state<DetailLevel>('standard');
  /**
   * Share of good parts the next retrain's threshold may flag, in percent; null keeps the type's
   * (the active model's rate, else 2 %).
   */
  falseAlarmPercent = $state<number | null>(null);
  /**
   * The region of interest the next retrain is given, in the type's image pixels; null clears it,
   * undefined keeps the type's (the active model's; without one, its zero-shot inspection's).
   */
  roi = $state<Roi | null | undefined>(undefined);
  /**
   * The short side the next retrain scores images at in tiles; null scores whole images,
   * undefined keeps the type's (the active model's, else whole images).
   */
  tileScale = $state<number | null | undefined>(undefined);
  /**
   * Whether the next retrain scores each image also mirrored and turned (ViewsChoice); undefined
   * keeps the type's (as its active model was set, else auto).
   */
  views = $state<ViewsChoice | undefined>(undefined);
  /** An image of the type to draw the region on, at its own size. */
  roiSample = $state<SampleImage | null>(null);

  constructor(
    private readonly client: ContractClient,
    private readonly app: AppManager,
    private readonly jobs: JobsManager,
    private readonly datasets: DatasetsManager,
  ) {
    client.on('models/changed', ({ objectTypes }) => {
      if (!this.objectType || objectTypes.includes(this.objectType)) void this.load();
    });
  }

  get selected(): ModelDto | undefined {
    return this.models.find((m) => m.id === this.selectedId) ?? this.models[0];
  }

  get active(): ModelDto | undefined {
    return this.models.find((m) => m.status === 'active');
  }

  /** What the selected model's validation promises: good parts flagged, defects caught, warning. */
  get expectation(): ModelExpectation | null {
    return modelExpectation(this.selected?.metrics);
  }

  /**
   * The region a type without a model keeps from its latest zero-shot inspection, where the next
   * retrain is its first (retrain.ts does the same).
   */
  get carriedRoi(): ZeroShotRegion | null {
    if (this.active) return null;
    return this.datasets.types.find((t) => t.name === this.objectType)?.zeroShotRegion ?? null;
  }

  /** The region the next retrain will use: the one set here, else the type's (carriedRoi). */
  get nextRoi(): Roi | null {
    if (this.roi !== undefined) return this.roi;
    return this.carriedRoi?.roi ?? modelRoi(this.active?.config);
  }

  get retrainJob() {
    return this.retrainJobId ? this.jobs.jobs[this.retrainJobId] : undefined;
  }

  /** The sources of scores the selected model has to draw curves from, the validation first. */
  get curveSources(): CurveSource[] {
    return [
      ...(this.selected?.validation?.scores.length ? (['validation'] as const) : []),
      ...(this.reviewed?.scores.length ? (['reviewed'] as const) : []),
    ];
  }

  /**
   * The scores the curves are drawn from, and what they are: the chosen source where the model
   * has it, else the other. Its validation images are what its threshold was set on; the images
   * it scored in inspections, with their labels and verdicts, are the line's own truth.
   */
  get curveData(): { data: Labelled; source: string } | null {
    const sources = this.curveSources;
    const source = sources.includes(this.curveSource) ? this.curveSource : sources[0];
    const validation = this.selected?.validation;
    if (source === 'validation' && validation) {
      return {
        data: validation,
        source:
          validation.defects === 'labels'
            ? 'validation images (labeled defects)'
            : 'validation images (synthetic defects painted in)',
      };
    }
    if (source === 'reviewed' && this.reviewed) {
      return { data: this.reviewed, source: 'labeled or reviewed images it scored in inspections' };
    }
    return null;
  }

  async show(objectType: string | null): Promise<void> {
    if (objectType !== this.objectType) {
      // A region is in one type's image pixels; another type starts from its own.
      this.roi = undefined;
      this.roiSample = null;
    }
    this.objectType = objectType;
    this.selectedId = null;
    await this.load();
  }

  /** Picks an image of the type to draw the region on (DatasetsManager.sampleImage). */
  async loadRoiSample(): Promise<void> {
    const objectType = this.objectType;
    if (!objectType) return;
    const sample = await this.datasets.sampleImage(objectType);
    if (objectType === this.objectType) this.roiSample = sample;
  }

  async load(): Promise<void> {
    const models = await this.app.attempt(() =>
      this.client.invoke('models/list', this.objectType ? { objectType: this.objectType } : {}),
    );
    if (!models) return;
    this.models = models.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    if (!this.models.some((m) => m.id === this.selectedId)) {
      this.selectedId = (this.active ?? this.models[0])?.id ?? null;
    }
    await this.loadReviewed();
  }

  async select(modelId: number): Promise<void> {
    this.selectedId = modelId;
    this.threshold = 0.5;
    this.curveSource = 'validation';
    await this.loadReviewed();
  }

  /**
   * Labeled images the selected model scored in inspections: the verdict where an inspector gave
   * one, else the image's own label from its dataset. Real truth, so an honest curve. Every one of
   * them, read by the store (models/scored), not the first page of the type's results.
   */
  private async loadReviewed(): Promise<void> {
    const model = this.selected;
    this.reviewed = null;
    if (!model) return;
    const scored = await this.app.attempt(() =>
      this.client.invoke('models/scored', { modelId: model.id }),
    );
    // Another model may have been selected while this one's were read.
    if (scored && this.selected?.id === model.id) this.reviewed = scored;
  }

  async activate(modelId: number): Promise<void> {
    const model = await this.app.attempt(() => this.client.invoke('models/activate', { modelId }));
    if (!model) return;
    this.app.notify(`${model.name} is now the active model.`, 'info');
    await this.load();
  }

  async retrain(): Promise<void> {
    const objectType = this.objectType ?? this.selected?.objectTypes[0];
    if (!objectType) return this.app.notify('Pick the object type to retrain.');
    const started = await this.app.attempt(() =>
      this.client.invoke('retrain/start', {
        objectType,
        ...DETAIL_LEVELS[this.retrainDetail].retrain,
        ...(this.falseAlarmPercent ? { falseAlarmRate: this.falseAlarmPercent / 100 } : {}),
        ...(this.roi !== undefined ? { roi: this.roi } : {}),
        ...(this.tileScale !== undefined ? { tileScale: this.tileScale } : {}),
        ...(this.views !== undefined ? { views: this.views } : {}),
      }),
    );
    if (!started) return;
    this.retrainJobId = started.jobId;
    await this.jobs.track(started.jobId);
  }
}
