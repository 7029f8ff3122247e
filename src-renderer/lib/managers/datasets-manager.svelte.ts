// Object types with their counts, the image grid of one type with its filters and selection,
// importing a folder (a job) and relabelling the selected images.
import type {
  DatasetLayout,
  ImageDto,
  Label,
  ObjectTypeSummary,
  Split,
} from '../../../src-main/shared/dto.js';
import type { ContractClient } from '../api/client.js';
import type { AppManager } from './app-manager.svelte.js';
import type { JobsManager } from './jobs-manager.svelte.js';

const PAGE = 120;

export class DatasetsManager {
  types = $state<ObjectTypeSummary[]>([]);
  selectedType = $state<string | null>(null);
  split = $state<Split | ''>('');
  label = $state<Label | 'unlabeled' | ''>('');
  images = $state<ImageDto[]>([]);
  nextOffset = $state<number | null>(null);
  selected = $state<number[]>([]);
  loading = $state(false);

  importRoot = $state('');
  importLayout = $state<DatasetLayout | ''>('');
  importType = $state('');
  importJobId = $state<string | null>(null);

  constructor(
    private readonly client: ContractClient,
    private readonly app: AppManager,
    private readonly jobs: JobsManager,
  ) {
    client.on('datasets/changed', ({ objectTypes }) => {
      void this.loadTypes();
      if (!objectTypes || (this.selectedType && objectTypes.includes(this.selectedType))) {
        void this.loadImages();
      }
    });
    // A type's active model and zero-shot region (ObjectTypeSummary) change with its models.
    client.on('models/changed', () => void this.loadTypes());
    client.onReconnect(() => void this.loadTypes());
  }

  get importJob() {
    return this.importJobId ? this.jobs.jobs[this.importJobId] : undefined;
  }

  get typeNames(): string[] {
    return this.types.map((t) => t.name);
  }

  async loadTypes(): Promise<void> {
    const types = await this.app.attempt(() => this.client.invoke('datasets/types', {}));
    if (!types) return;
    this.types = types;
    if (!this.selectedType || !types.some((t) => t.name === this.selectedType)) {
      this.selectedType = types[0]?.name ?? null;
      if (this.selectedType) await this.loadImages();
    }
  }

  async select(objectType: string): Promise<void> {
    this.selectedType = objectType;
    this.selected = [];
    await this.loadImages();
  }

  async setFilter(filter: { split?: Split | ''; label?: Label | 'unlabeled' | '' }): Promise<void> {
    if (filter.split !== undefined) this.split = filter.split;
    if (filter.label !== undefined) this.label = filter.label;
    this.selected = [];
    await this.loadImages();
  }

  /** The first page, or the next one appended (more = true). */
  async loadImages(more = false): Promise<void> {
    if (!this.selectedType) {
      this.images = [];
      return;
    }
    this.loading = true;
    const offset = more ? (this.nextOffset ?? 0) : 0;
    const page = await this.app.attempt(() =>
      this.client.invoke('datasets/images', {
        objectTypes: [this.selectedType!],
        ...(this.split ? { split: this.split } : {}),
        ...(this.label ? { label: this.label } : {}),
        offset,
        limit: PAGE,
      }),
    );
    this.loading = false;
    if (!page) return;
    this.images = more ? [...this.images, ...page.items] : page.items;
    this.nextOffset = page.nextOffset;
  }

  toggle(imageId: number): void {
    this.selected = this.selected.includes(imageId)
      ? this.selected.filter((id) => id !== imageId)
      : [...this.selected, imageId];
  }

  async relabel(label: Label): Promise<void> {
    if (this.selected.length === 0) return;
    const answer = await this.app.attempt(() =>
      this.client.invoke('datasets/relabel', { imageIds: this.selected, label }),
    );
    if (!answer) return;
    this.app.notify(`${answer.changed} image(s) now labeled ${label}.`, 'info');
    this.selected = [];
  }

  async importFolder(): Promise<void> {
    const root = this.importRoot.trim();
    if (!root) return this.app.notify('Type the folder to import.');
    const started = await this.app.attempt(() =>
      this.client.invoke('datasets/import', {
        root,
        ...(this.importLayout ? { layout: this.importLayout } : {}),
        ...(this.importType.trim() ? { objectType: this.importType.trim() } : {}),
      }),
    );
    if (!started) return;
    this.importJobId = started.jobId;
    await this.jobs.track(started.jobId);
  }
}
