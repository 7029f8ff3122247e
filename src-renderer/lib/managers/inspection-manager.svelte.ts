// An inspection run: the folder and object type (or a new type, scored zero-shot), the job, and
// its results worst first as they arrive, with the heatmap overlay toggle.
import {
  DETAIL_LEVELS,
  type DetailLevel,
  type InspectionResultDto,
  type ObjectTypeSummary,
  zeroShotDetailLevel,
} from '../../../src-main/shared/dto.js';
import { modelExpectation, mostlyFlaggedWarning } from '../../../src-main/shared/model-quality.js';
import { errorMessage } from '../../../src-main/shared/errors.js';
import { formatRoi, parseRoi, type Roi } from '../../../src-main/shared/roi.js';
import type { ContractClient } from '../api/client.js';
import type { AppManager } from './app-manager.svelte.js';
import type { DatasetsManager, SampleImage } from './datasets-manager.svelte.js';
import type { JobsManager } from './jobs-manager.svelte.js';

/** Worst first; unscorable files last. */
function worstFirst(a: InspectionResultDto, b: InspectionResultDto): number {
  return (b.score ?? -1) - (a.score ?? -1) || a.path.localeCompare(b.path);
}

function isUnder(path: string, folder: string): boolean {
  const norm = (p: string) => p.replace(/[\\/]+$/, '');
  return path.startsWith(norm(folder) + '/') || path.startsWith(norm(folder) + '\\');
}

export class InspectionManager {
  folder = $state('');
  objectType = $state('');
  /** Set when the inspector picks "new type": the name it gets. */
  newType = $state(false);
  newTypeName = $state('');
  watch = $state(false);
  /** Zero-shot's input size and feature maps as chosen; null until chosen (`detail`). */
  private chosenDetail = $state<DetailLevel | null>(null);
  /**
   * The zero-shot region of interest as typed, x,y,w,h in image pixels, empty for the whole
   * image; null until typed, when the type's own shows (`region`) and the main side keeps it.
   */
  private typedRegion = $state<string | null>(null);
  /** Whether the region is being drawn on one of the type's images (drawnOn). */
  drawing = $state(false);
  /** The image found for a type to draw on (null: it has none the app can show). */
  private regionSample = $state<{ objectType: string; image: SampleImage | null } | null>(null);
  /** While Confirm OK records its verdicts. */
  confirming = $state(false);
  showHeatmaps = $state(true);
  jobId = $state<string | null>(null);
  inspectionId = $state<number | null>(null);
  results = $state<InspectionResultDto[]>([]);
  /** Said at the start of an inspection whose model's validation shows it cannot separate. */
  modelWarning = $state<string | null>(null);

  constructor(
    private readonly client: ContractClient,
    private readonly app: AppManager,
    private readonly jobs: JobsManager,
    private readonly datasets: DatasetsManager,
  ) {
    client.on('inspect/result', (result) => {
      const ours =
        result.inspectionId === this.inspectionId ||
        (this.inspectionId === null && this.jobId !== null && isUnder(result.path, this.folder));
      if (!ours) return;
      this.inspectionId = result.inspectionId;
      this.results = [...this.results.filter((r) => r.id !== result.id), result].sort(worstFirst);
    });
    jobs.onDone((job) => {
      if (job.kind === 'inspect' && job.id === this.jobId && job.result) {
        this.inspectionId = job.result.inspectionId;
        void this.loadResults();
      }
    });
  }

  /** The type's name: the one picked, or the new type's as typed. */
  private get typeName(): string {
    return (this.newType ? this.newTypeName : this.objectType).trim();
  }

  /** The chosen type as the datasets list it; undefined for a type not there yet. */
  private get type(): ObjectTypeSummary | undefined {
    return this.datasets.types.find((t) => t.name === this.typeName);
  }

  /** Whether the folder is scored zero-shot (a new type, or one without a model yet). */
  get zeroShot(): boolean {
    return this.newType || this.type?.activeModelId === null;
  }

  /** The Region field: as typed, else the region the type's latest zero-shot inspection kept. */
  get region(): string {
    const kept = this.zeroShot ? this.type?.zeroShotRegion : null;
    return this.typedRegion ?? (kept ? formatRoi(kept.roi) : '');
  }

  set region(text: string) {
    this.typedRegion = text;
  }

  /** The Detail field: as chosen, else the level the type's latest zero-shot inspection kept. */
  get detail(): DetailLevel {
    const kept = this.zeroShot ? this.type?.zeroShotDetail : null;
    return this.chosenDetail ?? (kept && zeroShotDetailLevel(kept)) ?? 'standard';
  }

  set detail(level: DetailLevel) {
    this.chosenDetail = level;
  }

  /** The Region field as a rectangle, for drawing over the sample; null unless it reads as one. */
  get regionRoi(): Roi | null {
    try {
      return parseRoi(this.region);
    } catch {
      return null;
    }
  }

  /** Whether the region can be drawn: zero-shot, on a type that has images (it has been seen). */
  get canDraw(): boolean {
    return this.zeroShot && this.type !== undefined;
  }

  /** The image the region is drawn on: undefined while it is looked for, null if there is none. */
  get drawnOn(): SampleImage | null | undefined {
    const found = this.regionSample;
    return found && found.objectType === this.type?.name ? found.image : undefined;
  }

  /** Shows or hides one of the type's images to drag the region on. */
  async toggleDrawing(): Promise<void> {
    this.drawing = !this.drawing;
    const objectType = this.type?.name;
    if (!this.drawing || !objectType || this.drawnOn) return;
    const image = await this.datasets.sampleImage(objectType);
    this.regionSample = { objectType, image };
  }

  /** Picks a listed object type, or a new one; each starts from its own region and detail. */
  chooseType(name: string | null): void {
    this.newType = name === null;
    if (name !== null) this.objectType = name;
    this.typedRegion = null;
    this.chosenDetail = null;
    this.drawing = false;
  }

  get job() {
    return this.jobId ? this.jobs.jobs[this.jobId] : undefined;
  }

  get counts() {
    const count = (d: string) => this.results.filter((r) => r.decision === d).length;
    return {
      total: this.results.length,
      defect: count('DEFECT'),
      unsure: count('UNSURE'),
      ok: count('OK'),
      failed: this.results.filter((r) => r.error).length,
    };
  }

  /** The OK results without a verdict, which Confirm OK would label good. */
  get unconfirmedOk(): number {
    return this.results.filter((r) => r.decision === 'OK' && !r.review).length;
  }

  /**
   * A 'good' verdict for every OK result of the inspection without one, after the inspector looked
   * at them: the good images a type inspected zero-shot needs for its first retrain.
   */
  async confirmOk(): Promise<void> {
    if (this.inspectionId === null || this.confirming) return;
    this.confirming = true;
    const inspectionId = this.inspectionId;
    const summary = await this.app.attempt(() =>
      this.client.invoke('review/confirm-ok', { inspectionId }),
    );
    this.confirming = false;
    if (!summary) return;
    this.app.notify(`${summary.confirmed} OK image(s) confirmed good.`, 'info');
    for (const skipped of summary.skipped) this.app.notify(`Not recorded: ${skipped.message}`);
    await this.loadResults();
  }

  /** Said when a model flagged nearly every image of the batch (mostlyFlaggedWarning). */
  get batchWarning(): string | null {
    const scored = this.results.filter((r) => r.score !== null);
    return mostlyFlaggedWarning({
      scored: scored.length,
      flagged: scored.filter((r) => r.decision === 'DEFECT').length,
      objectType: scored[0]?.objectType ?? this.objectType,
      modelId: scored[0]?.modelId ?? null,
    });
  }

  /** Shows the newest inspection when the view opens. */
  async loadLatest(): Promise<void> {
    const latest = this.jobs.latest('inspect');
    if (latest?.kind !== 'inspect') return; // narrows the job's argument and result types
    this.jobId = latest.id;
    this.folder ||= latest.args.folder;
    this.objectType ||= latest.args.objectType;
    if (latest.result) {
      this.inspectionId = latest.result.inspectionId;
      await this.loadResults();
    }
  }

  async loadResults(): Promise<void> {
    if (this.inspectionId === null) return;
    const page = await this.app.attempt(() =>
      this.client.invoke('inspect/results', {
        inspectionId: this.inspectionId!,
        order: 'worst-first',
        limit: 1000,
      }),
    );
    if (page) this.results = page.items;
  }

  async start(): Promise<void> {
    const folder = this.folder.trim();
    const objectType = this.typeName;
    if (!folder) return this.app.notify('Type the folder to inspect.');
    if (!objectType) return this.app.notify('Pick an object type, or name the new one.');
    const zeroShot = this.zeroShot;
    // Untouched, the field shows the type's own region, which the main side keeps by itself.
    let roi: Roi | null | undefined;
    const typed = this.typedRegion?.trim();
    if (zeroShot && typed !== undefined) {
      try {
        roi = typed ? parseRoi(typed, 'Region') : null;
      } catch (error) {
        return this.app.notify(errorMessage(error));
      }
    }
    const started = await this.app.attempt(() =>
      this.client.invoke('inspect/start', {
        folder,
        objectType,
        watch: this.watch,
        ...(zeroShot ? DETAIL_LEVELS[this.detail].zeroShot : {}),
        ...(roi !== undefined ? { roi } : {}),
      }),
    );
    if (!started) return;
    this.modelWarning = zeroShot ? null : await this.warningFor(objectType);
    this.results = [];
    this.inspectionId = null;
    this.jobId = started.jobId;
    await this.jobs.track(started.jobId);
  }

  /** The warning of the type's active model, if its validation says it cannot separate. */
  private async warningFor(objectType: string): Promise<string | null> {
    const models = await this.app.attempt(() => this.client.invoke('models/list', { objectType }));
    const active = models?.find((m) => m.status === 'active');
    return modelExpectation(active?.metrics)?.warning ?? null;
  }

  async stop(): Promise<void> {
    if (this.jobId) await this.jobs.cancel(this.jobId);
  }
}
