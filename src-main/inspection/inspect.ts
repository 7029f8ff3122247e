// Inspecting a camera folder, the main side: list the folder, hand the engine host batches of
// files (inspect-prepare / inspect-batch), record each batch's results as it comes back and push
// them as events; with watch, keep scoring new files as the camera finishes writing them. Only a
// batch is ever in memory, and a resumed inspection skips every file that already has a result.
import { readFileSync, readdirSync, statSync, type Dirent } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Emit } from '../shared/contract.js';
import {
  DEFAULT_INPUT_SIZE,
  type InspectRequest,
  type InspectSummary,
  type InspectionResultDto,
  FEATURE_NAMES,
  type FeatureName,
  type ObjectTypeSummary,
  type ZeroShotDetail,
  type ZeroShotRegion,
} from '../shared/dto.js';
import { BadArgumentError, CancelledError, NotFoundError } from '../shared/errors.js';
import { formatRoi, modelRoi, type Roi } from '../shared/roi.js';
import { IMAGE_EXTENSIONS } from '../data/image-io.js';
import type { Calibration } from '../engine/threshold.js';
import type { InspectBatchResult } from '../engine/tasks/inspect.js';
import type { EngineClient } from '../jobs/engine-client.js';
import type { JobControl } from '../jobs/registry.js';
import type { InspectionRecord } from '../store/repos/inspections.repo.js';
import type { NewResult } from '../store/repos/results.repo.js';
import type { Store } from '../store/store.js';

export interface InspectDeps {
  store: Store;
  engine: EngineClient;
  emit: Emit;
  /** The inspector's unsure band (Settings); the model's own calibration band when absent. */
  unsureBand?: number;
}

/** Files per host round trip: small enough that a cancel or a crash loses little. */
export const INSPECT_BATCH = 32;
/** Zero-shot: the folder's files sampled for references and the calibration of the scale. */
export const ZERO_SHOT_SAMPLE = 64;
export const ZERO_SHOT_REFERENCES = 24;
/** A watched folder is scored zero-shot once this many files have arrived. */
export const ZERO_SHOT_MIN_WATCH = 8;
/** A file is ready when its size has not changed for this long. */
export const SETTLE_MS = 600;
/** Without watch, a file still growing after this long is reported rather than waited for. */
const SETTLE_GIVE_UP_MS = 30_000;
/** A file that fails to decode although it just changed is tried again this often. */
const DECODE_RETRIES = 4;

export function isImageFile(path: string): boolean {
  const name = path.split(/[\\/]/).pop() ?? '';
  return !name.startsWith('.') && IMAGE_EXTENSIONS.has(extname(name).toLowerCase());
}

/**
 * An image file of `folder`: a file, or a link to one (a folder put together from links, as a
 * script or a file server makes it; the watcher follows links too). A broken link is listed, so
 * that scoring reports the image as gone instead of passing over it.
 */
function isImageEntry(folder: string, entry: Dirent): boolean {
  if (!isImageFile(entry.name)) return false;
  if (entry.isFile()) return true;
  if (!entry.isSymbolicLink()) return false;
  try {
    return statSync(join(folder, entry.name)).isFile();
  } catch {
    return true;
  }
}

/** The folder's image files (not its subfolders: a camera writes into one folder), sorted. */
export function listImages(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true })
    .filter((entry) => isImageEntry(folder, entry))
    .map((entry) => resolve(folder, entry.name))
    .sort();
}

/**
 * Why `folder` cannot be inspected without watching it, or null when it holds images: an empty
 * folder (or one whose images sit in subfolders, as a dataset's test/good and test/crack do) would
 * otherwise finish at once with nothing scored and no word why.
 */
export function noImagesProblem(folder: string): string | null {
  let entries;
  try {
    entries = readdirSync(folder, { withFileTypes: true });
  } catch (error) {
    return `Cannot read ${folder}: ${(error as Error).message}.`;
  }
  if (entries.some((entry) => isImageEntry(folder, entry))) return null;
  const held = entries
    // Folders and links to folders: anything else fails to list and counts nothing.
    .filter((entry) => !entry.isFile() && !entry.name.startsWith('.'))
    .map((entry) => {
      try {
        return { name: entry.name, count: listImages(join(folder, entry.name)).length };
      } catch {
        return { name: entry.name, count: 0 }; // unreadable: not a place to point at
      }
    })
    .filter((sub) => sub.count > 0)
    .sort((a, b) => a.name.localeCompare(b.name));
  const looked = `looked for ${[...IMAGE_EXTENSIONS].join(', ')}`;
  if (held.length === 0)
    return `No images in ${folder} (${looked}). Choose the folder the camera writes into, or watch this one for new images.`;
  const list = held.map((sub) => `${sub.name} (${sub.count})`).join(', ');
  return `No images in ${folder} itself (${looked}); its subfolders hold some: ${list}. Inspect one of those folders: an inspection scores one folder, not its subfolders.`;
}

/** <data>/cache/heatmaps/<inspection-id>/ */
export function heatmapFolder(store: Store, inspectionId: number): string {
  return join(store.paths.heatmaps, String(inspectionId));
}

/** <data>/cache/zero-shot/<inspection-id>/: the references a zero-shot inspection scores against. */
export function zeroShotFolder(store: Store, inspectionId: number): string {
  return join(dirname(store.paths.heatmaps), 'zero-shot', String(inspectionId));
}

/**
 * The region the object type's latest zero-shot inspection kept to (its references' manifest), or
 * null: none, no region, or its reference folder gone with the cache. The inspector drew it for
 * this type's parts, so until the type has a model its next zero-shot inspection keeps it, and so
 * does its first retrain (retrain.ts).
 */
export function zeroShotRegion(store: Store, objectType: string): ZeroShotRegion | null {
  const inspection = store.inspections.latestZeroShot(objectType);
  const roi = inspection?.modelPath ? manifestRoi(inspection.modelPath) : null;
  return roi ? { roi, inspectionId: inspection!.id } : null;
}

/** The log line of a zero-shot region kept for `objectType` (zeroShotRegion). */
export function keptRegionLine(kept: ZeroShotRegion, objectType: string): string {
  return `keeping the region of interest ${formatRoi(kept.roi)} that zero-shot inspection ${kept.inspectionId} of ${objectType} kept to (a region given, or --roi none, changes it)`;
}

/**
 * The input size and feature maps the object type's latest zero-shot inspection was scored at (its
 * references' detector.json), or null: none, or its reference folder gone with the cache. Until the
 * type has a model its next zero-shot inspection keeps them, as it keeps the region.
 */
export function zeroShotDetail(store: Store, objectType: string): ZeroShotDetail | null {
  const inspection = store.inspections.latestZeroShot(objectType);
  const detector = inspection?.modelPath
    ? readModelFile(inspection.modelPath, 'detector.json')
    : null;
  const config = detector?.config as
    { inputSize?: unknown; features?: { layers?: unknown } } | undefined;
  const inputSize = config?.inputSize;
  const layers = config?.features?.layers;
  const names: readonly unknown[] = FEATURE_NAMES;
  if (
    !Number.isInteger(inputSize) ||
    !Array.isArray(layers) ||
    !layers.every((l) => names.includes(l))
  )
    return null;
  return {
    inputSize: inputSize as number,
    layers: layers as FeatureName[],
    inspectionId: inspection!.id,
  };
}

/** The region a model folder (a type's model, or a zero-shot inspection's references) keeps to. */
function manifestRoi(modelPath: string): Roi | null {
  return modelRoi(readModelFile(modelPath, 'manifest.json') ?? undefined);
}

/** A JSON file of a model folder, or null: gone with the cache, or never written. */
function readModelFile(modelPath: string, name: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(join(modelPath, name), 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/**
 * The object types with their image counts, active model, and zero-shot region and detail (read
 * only for a type without a model: one with a model keeps the model's).
 */
export function typeSummaries(store: Store): ObjectTypeSummary[] {
  return store.objectTypes.summaries().map((type) => {
    const activeModelId = store.models.active(type.name)?.id ?? null;
    return {
      ...type,
      activeModelId,
      zeroShotRegion: activeModelId === null ? zeroShotRegion(store, type.name) : null,
      zeroShotDetail: activeModelId === null ? zeroShotDetail(store, type.name) : null,
    };
  });
}

/** An evenly spread sample of at most n items, in order. */
function spread<T>(items: T[], n: number): T[] {
  if (items.length <= n) return items;
  return Array.from({ length: n }, (_, i) => items[Math.floor((i * items.length) / n)]!);
}

function stat(path: string): { size: number; mtimeMs: number } | undefined {
  try {
    const s = statSync(path);
    return { size: s.size, mtimeMs: s.mtimeMs };
  } catch {
    return undefined;
  }
}

interface Scorer {
  modelId: number | null;
  modelKind: string;
  modelPath: string;
  calibration: Calibration;
}

/**
 * Files waiting to be scored. A file joins when listed or when the watcher sees it; it is ready
 * once its size has held still for SETTLE_MS (a camera still writing it keeps it back), so a
 * half-written file is never read. Memory: the paths not yet scored, nothing more.
 */
class FileQueue {
  private readonly settling = new Map<string, { size: number; since: number; first: number }>();
  private readonly ready: string[] = [];
  private readonly queued = new Set<string>();
  readonly attempts = new Map<string, number>();
  private wake: (() => void) | undefined;

  add(path: string, now = Date.now()): void {
    if (this.queued.has(path)) return;
    const s = stat(path);
    this.queued.add(path);
    // Files that have not changed for a while are ready at once (the usual case when listing).
    if (s && now - s.mtimeMs > SETTLE_MS) this.ready.push(path);
    else this.settling.set(path, { size: s?.size ?? -1, since: now, first: now });
    this.wake?.();
  }

  /** A file that failed to decode right after it changed: settle again before another try. */
  retry(path: string): void {
    this.queued.delete(path);
    this.attempts.set(path, (this.attempts.get(path) ?? 0) + 1);
    const now = Date.now();
    this.queued.add(path);
    this.settling.set(path, { size: stat(path)?.size ?? -1, since: now, first: now });
  }

  remove(path: string): boolean {
    const had = this.settling.delete(path);
    if (had) this.queued.delete(path);
    return had;
  }

  done(path: string): void {
    this.queued.delete(path);
    this.attempts.delete(path);
  }

  /** Moves settled files to ready; returns files that kept growing past `giveUpMs`. */
  settle(giveUpMs: number, now = Date.now()): string[] {
    const stuck: string[] = [];
    for (const [path, entry] of this.settling) {
      const s = stat(path);
      const size = s?.size ?? -1;
      if (size !== entry.size) {
        entry.size = size;
        entry.since = now;
      } else if (now - entry.since >= SETTLE_MS) {
        this.settling.delete(path);
        this.ready.push(path);
        continue;
      }
      if (now - entry.first > giveUpMs) {
        this.settling.delete(path);
        stuck.push(path);
      }
    }
    return stuck;
  }

  take(n: number): string[] {
    return this.ready.splice(0, n);
  }

  get readyCount(): number {
    return this.ready.length;
  }

  get waiting(): number {
    return this.ready.length + this.settling.size;
  }

  /** Resolves when a file arrives, after `ms`, or on abort. */
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolveSleep) => {
      const finish = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', finish);
        this.wake = undefined;
        resolveSleep();
      };
      const timer = setTimeout(finish, ms);
      signal.addEventListener('abort', finish, { once: true });
      this.wake = finish;
    });
  }
}

/** Creates the inspection row (or takes up the one being resumed) and checks the request. */
export function openInspection(
  store: Store,
  request: InspectRequest,
  jobId: string,
): { inspectionId: number; folder: string } {
  const folder = resolve(request.folder);
  if (request.roi) {
    // A model keeps to the region it was retrained with, and a resumed run to the one it began with.
    const modelId = request.modelId ?? store.models.active(request.objectType)?.id;
    if (request.inspectionId !== undefined)
      throw new BadArgumentError(
        `A resumed inspection keeps the region it began with; resume inspection ${request.inspectionId} without one.`,
      );
    if (modelId !== undefined)
      throw new BadArgumentError(
        `'${request.objectType}' is scored by model ${modelId}, which keeps to the region it was retrained with; set the region with retrain (--roi) instead. A region applies to zero-shot only.`,
      );
  }
  if (request.inspectionId !== undefined) {
    const existing = store.inspections.get(request.inspectionId);
    if (!existing) throw new NotFoundError(`No inspection ${request.inspectionId}.`);
    if (existing.folder !== folder)
      throw new BadArgumentError(
        `Inspection ${existing.id} scored ${existing.folder}, not ${folder}; resume it with its own folder.`,
      );
    store.inspections.setJob(existing.id, jobId);
    return { inspectionId: existing.id, folder };
  }
  const objectTypeId = store.objectTypes.ensure(request.objectType);
  const inspectionId = store.inspections.create({
    folder,
    objectTypeId,
    jobId,
    watch: request.watch ?? false,
  });
  return { inspectionId, folder };
}

/**
 * Scores a camera folder, step by step: watch it (with watch), list it, score what is there and
 * whatever was still being written, keep scoring new files until cancelled (with watch), then
 * free the host's detector and sum up.
 */
export async function runInspection(
  deps: InspectDeps,
  request: InspectRequest,
  job: JobControl,
): Promise<InspectSummary> {
  const run = new InspectionRun(deps, request, job);
  // The watcher starts before the listing, so a file written in between is not missed (the
  // queue and the results table drop the duplicate).
  const watcher = request.watch ? await run.watchFolder() : undefined;
  run.listFolder();
  try {
    await run.scoreFolder();
    if (request.watch) await run.keepWatching();
  } catch (error) {
    // Cancelling a watch is how it ends: what was scored is the result, not an error.
    if (!(request.watch && job.signal.aborted && error instanceof CancelledError)) throw error;
  } finally {
    await watcher?.close();
    await run.releaseDetector();
  }
  return run.finish();
}

/** One inspection being run: its row, its queue of files, the scorer once prepared, counts. */
class InspectionRun {
  private readonly store: Store;
  private readonly engine: EngineClient;
  private readonly started = Date.now();
  private readonly resumed: boolean;
  private readonly inspectionId: number;
  private readonly folder: string;
  private readonly inspection: InspectionRecord;
  private readonly objectType: string;
  private readonly objectTypeId: number;
  private readonly heatmapDir: string | null;
  private readonly heatmaps: 'all' | 'flagged';
  private readonly queue = new FileQueue();
  private scorer: Scorer | undefined;
  private done = 0;
  private total = 0;
  private readonly counts = { scored: 0, failed: 0 };

  constructor(
    private readonly deps: InspectDeps,
    private readonly request: InspectRequest,
    private readonly job: JobControl,
  ) {
    this.store = deps.store;
    this.engine = deps.engine;
    this.resumed = request.inspectionId !== undefined;
    const { inspectionId, folder } = openInspection(this.store, request, job.id);
    this.inspectionId = inspectionId;
    this.folder = folder;
    this.inspection = this.store.inspections.get(inspectionId)!;
    this.objectType = this.inspection.objectType ?? request.objectType;
    this.objectTypeId = this.store.objectTypes.ensure(this.objectType);
    this.heatmapDir = request.heatmaps === 'none' ? null : heatmapFolder(this.store, inspectionId);
    this.heatmaps = request.heatmaps === 'all' ? 'all' : 'flagged';
  }

  /** Queues new and changed image files as the camera writes them; resolves once watching. */
  async watchFolder(): Promise<FSWatcher> {
    const { store, queue, job, inspectionId, folder } = this;
    const watcher = watch(folder, {
      ignoreInitial: true,
      depth: 0,
      awaitWriteFinish: { stabilityThreshold: SETTLE_MS, pollInterval: 100 },
    });
    const arrived = (path: string) => {
      const full = resolve(path);
      if (isImageFile(full) && !store.results.has(inspectionId, full)) queue.add(full);
    };
    watcher.on('add', arrived);
    watcher.on('change', arrived);
    watcher.on('unlink', (path) => {
      if (queue.remove(resolve(path))) job.log(`${path} vanished before it could be scored`);
    });
    watcher.on('error', (error) => job.log(`watching ${folder}: ${String(error)}`));
    await new Promise<void>((ready) => watcher.once('ready', () => ready()));
    return watcher;
  }

  /** Queues the folder's images that have no result yet (all of them, unless resumed). */
  listFolder(): void {
    let listed = 0;
    for (const path of listImages(this.folder)) {
      if (this.store.results.has(this.inspectionId, path)) continue;
      this.queue.add(path);
      listed++;
    }
    this.total = listed;
    this.job.log(
      `${this.resumed ? 'resuming' : 'inspecting'} ${this.folder} as '${this.objectType}': ${listed} file(s) to score` +
        (this.request.watch ? ', then watching for new ones' : ''),
    );
  }

  /** The folder as it is, then (without watch) whatever was still being written. */
  async scoreFolder(): Promise<void> {
    const { queue, job, request } = this;
    job.progress(0, this.total, 'starting');
    while (queue.waiting > 0) {
      if (job.signal.aborted) throw new CancelledError();
      this.recordStuck(queue.settle(request.watch ? Number.POSITIVE_INFINITY : SETTLE_GIVE_UP_MS));
      await this.scoreReady();
      if (queue.readyCount === 0 && queue.waiting > 0) {
        if (request.watch && !this.scorer) break; // a zero-shot watch waits for enough files below
        await queue.sleep(100, job.signal);
      }
    }
  }

  /** Scores new files as they settle, until the job is cancelled. */
  async keepWatching(): Promise<void> {
    const { queue, job } = this;
    job.log(`watching ${this.folder} for new images (cancel to stop)`);
    // How many files the camera will write is unknown: 0 is the job's "unknown total".
    this.total = 0;
    while (!job.signal.aborted) {
      await queue.sleep(queue.waiting > 0 ? 100 : 1000, job.signal);
      if (job.signal.aborted) break;
      queue.settle(Number.POSITIVE_INFINITY);
      const before = this.done;
      await this.scoreReady();
      if (this.done > before)
        job.progress(this.done, this.total, `${this.counts.scored} scored, watching`);
    }
    job.log('stopped watching');
  }

  /** Frees the detector the host keeps between batches. */
  async releaseDetector(): Promise<void> {
    // Only a host that is still up holds the detector; a crashed or closed one held it last
    // (and asking would start a fresh host for nothing).
    if (this.scorer && this.engine.pid !== null)
      await this.engine.run('inspect-release', {}).catch(() => undefined);
  }

  /** Marks the inspection finished and sums up its stored results. */
  finish(): InspectSummary {
    this.store.inspections.finish(this.inspectionId);
    const summary = summarise(this.store, this.inspectionId, (Date.now() - this.started) / 1000);
    this.job.log(
      `${summary.scored} scored: ${summary.flagged} DEFECT, ${summary.unsure} UNSURE, ${summary.ok} OK; ${summary.failed} unreadable`,
    );
    return summary;
  }

  /** Scores the ready files batch by batch, preparing the scorer first when there is none. */
  private async scoreReady(): Promise<void> {
    const { queue, job } = this;
    while (queue.readyCount > 0) {
      if (job.signal.aborted) throw new CancelledError();
      const scorer = this.scorer ?? (await this.prepareWhenEnough());
      if (!scorer) return; // a zero-shot watch waits for more files to arrive
      const files = queue.take(INSPECT_BATCH);
      const batch = await this.engine.run(
        'inspect-batch',
        {
          modelPath: scorer.modelPath,
          calibration: scorer.calibration,
          files,
          heatmapDir: this.heatmapDir,
          heatmaps: this.heatmaps,
        },
        { signal: job.signal, onLog: job.log },
      );
      this.record(batch, scorer, this.retryLater(batch.errors));
      job.progress(
        this.done,
        this.total,
        `${this.counts.scored} scored, ${this.counts.failed} unreadable`,
      );
    }
  }

  /**
   * Prepares the scorer from the ready files; undefined while a zero-shot watch waits for
   * enough of them. A type without a model needs at least two files to score zero-shot.
   */
  private async prepareWhenEnough(): Promise<Scorer | undefined> {
    const { queue, request, store, objectType } = this;
    const minimum = request.watch ? ZERO_SHOT_MIN_WATCH : 2;
    const hasModel =
      request.modelId !== undefined ||
      store.models.active(objectType) !== undefined ||
      Boolean(this.inspection.modelPath);
    if (!hasModel && queue.readyCount < minimum) {
      if (request.watch) return undefined;
      throw new BadArgumentError(
        `Object type '${objectType}' has no model yet and ${this.folder} holds fewer than 2 images to score zero-shot. Add images or retrain the type.`,
      );
    }
    const candidates = queue.take(Number.MAX_SAFE_INTEGER);
    try {
      this.scorer = await this.prepare(candidates);
      return this.scorer;
    } finally {
      // Put them back in order for scoring.
      for (const path of candidates) {
        queue.done(path);
        queue.add(path, Date.now() + SETTLE_MS + 1);
      }
    }
  }

  /**
   * Has the host load the model that scores this inspection: the one asked for, the one it
   * scored with before (resumed), the type's active model, or else zero-shot references sampled
   * from `candidates` (reused from a resumed inspection's earlier run when its folder is there).
   */
  private async prepare(candidates: string[]): Promise<Scorer> {
    const { store, request, inspection, inspectionId, objectType, job } = this;
    const model =
      request.modelId !== undefined
        ? store.models.get(request.modelId)
        : inspection.modelId !== null
          ? store.models.get(inspection.modelId)
          : store.models.active(objectType);
    if (request.modelId !== undefined && !model)
      throw new NotFoundError(`No model ${request.modelId}.`);
    if (model && !model.path)
      throw new BadArgumentError(`Model ${model.id} has no model folder; retrain the type.`);
    const reuse =
      !model && inspection.modelPath && stat(join(inspection.modelPath, 'manifest.json'));
    const options = { signal: job.signal, onLog: job.log };
    // A type without a model keeps the region its latest zero-shot inspection was given.
    const carried =
      !model && !reuse && request.roi === undefined ? zeroShotRegion(store, objectType) : null;
    const roi = request.roi ?? carried?.roi ?? null;
    if (carried) job.log(keptRegionLine(carried, objectType));
    const detail =
      !model && !reuse && request.inputSize === undefined && request.layers === undefined
        ? zeroShotDetail(store, objectType)
        : null;
    if (detail)
      job.log(
        `keeping the detail zero-shot inspection ${detail.inspectionId} of ${objectType} was scored at: ${detail.inputSize} px, ${detail.layers.join(' + ')} (--size or --layers changes it)`,
      );
    const layers = request.layers ?? detail?.layers;
    const prepared =
      model || reuse
        ? await this.engine.run(
            'inspect-prepare',
            { model: model?.path ?? inspection.modelPath! },
            options,
          )
        : await this.engine.run(
            'inspect-prepare',
            {
              zeroShot: {
                objectType,
                files: spread(candidates, ZERO_SHOT_SAMPLE),
                out: zeroShotFolder(store, inspectionId),
                inputSize: request.inputSize ?? detail?.inputSize ?? DEFAULT_INPUT_SIZE,
                ...(layers ? { layers } : {}),
                ...(roi ? { roi } : {}),
                references: ZERO_SHOT_REFERENCES,
              },
            },
            options,
          );
    const calibration =
      this.deps.unsureBand === undefined
        ? prepared.calibration
        : { ...prepared.calibration, unsureBand: this.deps.unsureBand };
    store.inspections.setModel(inspectionId, {
      modelId: model?.id ?? null,
      modelPath: prepared.modelPath,
      threshold: calibration.threshold,
      unsureBand: calibration.unsureBand,
    });
    const within = prepared.roi ? `, within the region of interest ${formatRoi(prepared.roi)}` : '';
    job.log(
      model
        ? `scoring with model ${model.id} (${model.name})${within}`
        : `scoring zero-shot: ${prepared.references ?? '?'} reference images of the folder, scale from ${prepared.calibrationImages ?? '?'} images${within}`,
    );
    return {
      modelId: model?.id ?? null,
      modelKind: model?.kind ?? prepared.kind,
      modelPath: prepared.modelPath,
      calibration,
    };
  }

  /**
   * Of a batch's unreadable files, those to try again (queued to settle anew): a file that
   * changed a moment ago and will not decode is most likely still being written.
   */
  private retryLater(errors: InspectBatchResult['errors']): Set<string> {
    const { queue } = this;
    const retryable = new Set<string>();
    for (const e of errors) {
      const s = stat(e.path);
      const fresh = s !== undefined && Date.now() - s.mtimeMs < 5 * SETTLE_MS;
      if (
        (e.problem === 'empty' || e.problem === 'corrupt') &&
        fresh &&
        (queue.attempts.get(e.path) ?? 0) < DECODE_RETRIES
      ) {
        retryable.add(e.path);
        queue.retry(e.path);
      }
    }
    return retryable;
  }

  /** Files that kept growing past SETTLE_GIVE_UP_MS are recorded as unreadable. */
  private recordStuck(paths: string[]): void {
    if (paths.length === 0 || !this.scorer) return;
    this.record(
      {
        results: [],
        errors: paths.map((path) => ({
          path,
          problem: 'still-being-written',
          message: `${path}: the file kept changing for ${SETTLE_GIVE_UP_MS / 1000} s; score it again when it is complete.`,
        })),
      },
      this.scorer,
      new Set(),
    );
  }

  /**
   * Stores a batch's results and errors (but not the files to retry), counts them and pushes
   * each one as an inspect/result event.
   */
  private record(
    batch: Pick<InspectBatchResult, 'results' | 'errors'>,
    scorer: Scorer,
    retryable: Set<string>,
  ): void {
    const { store, queue, job, inspectionId, objectTypeId, counts } = this;
    const rows: NewResult[] = [];
    for (const r of batch.results) {
      rows.push({
        inspectionId,
        path: r.path,
        imageId: store.images.find(objectTypeId, r.sha256)?.id ?? null,
        sha256: r.sha256,
        modelId: scorer.modelId,
        rawScore: r.rawScore,
        score: r.score,
        decision: r.decision,
        heatmapPath: r.heatmapPath,
        error: null,
      });
    }
    for (const e of batch.errors) {
      if (retryable.has(e.path)) continue;
      rows.push({
        inspectionId,
        path: e.path,
        imageId: null,
        sha256: null,
        modelId: scorer.modelId,
        rawScore: null,
        score: null,
        decision: null,
        heatmapPath: null,
        error: `${e.problem}: ${e.message}`,
      });
    }
    const ids = store.results.insertMany(rows);
    const createdAt = new Date().toISOString();
    rows.forEach((row, i) => {
      const id = ids[i];
      queue.done(row.path);
      if (id === null || id === undefined) return;
      if (row.error) {
        counts.failed++;
        job.log(`skipped ${row.error}`);
      } else counts.scored++;
      const dto: InspectionResultDto = {
        id,
        inspectionId,
        objectType: this.objectType,
        path: row.path,
        imageId: row.imageId,
        modelId: row.modelId,
        score: row.score,
        decision: row.decision,
        heatmapPath: row.heatmapPath,
        error: row.error,
        createdAt,
        review: null,
      };
      this.deps.emit('inspect/result', dto);
    });
    this.done += rows.length;
  }
}

export function summarise(store: Store, inspectionId: number, seconds = 0): InspectSummary {
  const inspection = store.inspections.get(inspectionId);
  if (!inspection) throw new NotFoundError(`No inspection ${inspectionId}.`);
  const counts = store.results.counts(inspectionId);
  const model = inspection.modelId !== null ? store.models.get(inspection.modelId) : undefined;
  return {
    inspectionId,
    scored: counts.scored,
    flagged: counts.flagged,
    unsure: counts.unsure,
    failed: counts.failed,
    ok: counts.ok,
    folder: inspection.folder,
    objectType: inspection.objectType ?? '',
    modelId: inspection.modelId,
    modelKind: model?.kind ?? 'zero-shot',
    threshold: inspection.threshold ?? Number.NaN,
    roi: inspection.modelPath ? manifestRoi(inspection.modelPath) : null,
    seconds,
  };
}
