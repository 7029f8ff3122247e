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

/** An image of a type at its own size in pixels, to draw the type's region of interest on. */
export interface SampleImage {
  objectType: string;
  path: string;
  width: number;
  height: number;
}

/** An image's size in pixels as the browser decodes it; null where it cannot be shown. */
async function naturalSize(url: string): Promise<{ width: number; height: number } | null> {
  const image = new Image();
  image.src = url;
  try {
    await image.decode();
    return { width: image.naturalWidth, height: image.naturalHeight };
  } catch {
    return null;
  }
}

export class DatasetsManager {
  types = $state<ObjectTypeSummary[]>([]);
  selectedType = $state<string | null>(null);
  split = $state<Split | ''>('');
  label = $state<Label | 'unlabeled' | ''>('');
  images = $state<ImageDto[]>([]);
  nextOffset = $state<number | null>(null);
  selected = $state<number[]>([]);
  loading = $state(false);
  private imagesRequest = 0;

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

  /** What the image grid says when it shows none: a filter matched none, or the type has none. */
  get emptyText(): string {
    const type = this.types.find((t) => t.name === this.selectedType);
    if (type?.images !== 0) return 'No images match.';
    return `No images of ${type.name} yet: its inspected images join it once reviewed (Review), or import a folder of them.`;
  }

  get typeNames(): string[] {
    return this.types.map((t) => t.name);
  }

  /**
   * An image of the type to draw its region on: a good one of its dataset where there is one, else
   * one its inspections scored (a type inspected zero-shot has no dataset images until reviewed).
   */
  async sampleImage(objectType: string): Promise<SampleImage | null> {
    const page = await this.app.attempt(() =>
      this.client.invoke('datasets/images', { objectTypes: [objectType], limit: 50 }),
    );
    const image = page?.items.find((i) => i.label === 'good') ?? page?.items[0];
    if (image) return { objectType, path: image.path, width: image.width, height: image.height };
    const results = await this.app.attempt(() =>
      this.client.invoke('inspect/results', { objectType, order: 'newest-first', limit: 20 }),
    );
    const scored = results?.items.find((r) => r.score !== null);
    const size = scored ? await naturalSize(this.client.fileUrl(scored.path)) : null;
    return size && { objectType, path: scored!.path, ...size };
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
    // Only the latest request shows: an earlier type's or filter's page may answer after it.
    const request = ++this.imagesRequest;
    const page = await this.app.attempt(() =>
      this.client.invoke('datasets/images', {
        objectTypes: [this.selectedType!],
        ...(this.split ? { split: this.split } : {}),
        ...(this.label ? { label: this.label } : {}),
        offset,
        limit: PAGE,
      }),
    );
    if (request !== this.imagesRequest) return;
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
