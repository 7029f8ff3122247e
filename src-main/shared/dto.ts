// Data shapes that cross process boundaries (CLI output, IPC, HTTP). The renderer sees these,
// never database rows.
import type { Roi } from './roi.js';

export type Split = 'train' | 'test' | 'unsplit';
export type Label = 'good' | 'defect';
export type LabelSource = 'import' | 'review' | 'prediction';

export interface ObjectTypeSummary {
  id: number;
  name: string;
  images: number;
  /** Counts per split and current label ('unlabeled' where none). */
  counts: Record<Split, { good: number; defect: number; unlabeled: number }>;
  defectKinds: string[];
  masks: number;
  /** The model that scores its inspections; null: they are scored zero-shot. */
  activeModelId: number | null;
  /**
   * The region its latest zero-shot inspection kept to, which its next zero-shot inspection and
   * its first retrain keep unless told otherwise; null where there is none, and for a type with a
   * model, which keeps the model's region instead.
   */
  zeroShotRegion: ZeroShotRegion | null;
  /**
   * The input size and feature maps its latest zero-shot inspection was scored at, which its next
   * zero-shot inspection keeps unless told otherwise; null where there is none, and for a type with
   * a model, which scores at the settings it was retrained with.
   */
  zeroShotDetail: ZeroShotDetail | null;
}

export interface ZeroShotRegion {
  roi: Roi;
  inspectionId: number;
}

export interface ZeroShotDetail {
  inputSize: number;
  layers: FeatureName[];
  inspectionId: number;
}

export interface ImageDto {
  id: number;
  objectType: string;
  path: string;
  sha256: string;
  width: number;
  height: number;
  split: Split;
  label: Label | null;
  defectKind: string | null;
  maskPath: string | null;
}

export interface FileProblem {
  path: string;
  /** Machine-readable reason: an ImageProblem or another short code. */
  problem: string;
  message: string;
}

export interface ImportSummary {
  root: string;
  layout: 'mvtec' | 'folders' | 'unlabeled';
  objectTypes: string[];
  /** Image files seen (decodable or not). */
  seen: number;
  added: number;
  /** Already in the store (same content hash) — re-imports add nothing. */
  unchanged: number;
  labelsAdded: number;
  masksAdded: number;
  failed: FileProblem[];
}

/** The inspector-facing decision for one image. */
export type Decision = 'OK' | 'DEFECT' | 'UNSURE';

// ---- Paging -------------------------------------------------------------------------------

export interface PageRequest {
  /** Items to skip (default 0). */
  offset?: number;
  /** Items per page (default 100, at most 1000). */
  limit?: number;
}

/** One page of a list; `nextOffset` is null on the last page. */
export interface Page<T> {
  items: T[];
  offset: number;
  nextOffset: number | null;
}

// ---- Datasets -----------------------------------------------------------------------------

export type DatasetLayout = ImportSummary['layout'];

export interface ImportRequest {
  /** The dataset folder; images stay where they are. */
  root: string;
  /** Detected when absent. */
  layout?: DatasetLayout;
  /** Object type for a single-type folder (default: the folder's name). */
  objectType?: string;
  /** Who the import labels are recorded under (default: 'import'). */
  who?: string;
}

export interface ImageFilter {
  objectTypes?: string[];
  split?: Split;
  /** 'unlabeled' selects images without any label. */
  label?: Label | 'unlabeled';
}

export interface RelabelRequest {
  imageIds: number[];
  label: Label;
  defectKind?: string | null;
  /** Default: the inspector named in the settings. */
  who?: string;
}

// ---- Training and evaluation --------------------------------------------------------------

export type TrainMethod = 'simclr' | 'classifier' | 'baseline';

export interface TrainRequest {
  method: TrainMethod;
  /** Object types whose images train the model (default: all in the store). */
  objectTypes?: string[];
  epochs?: number;
  batchSize?: number;
  /** Side images are resized to, in pixels (default 128). */
  inputSize?: number;
  /** simclr: resnet | mobilenetv3-trainable; classifier: mobilenetv3 | mobilenetv3-trainable | resnet | vgg16. */
  encoder?: string;
  /** classifier: start from the encoder of this model folder (e.g. a SimCLR model's path). */
  from?: string;
  /** classifier: update the encoder too (default: frozen). */
  fineTune?: boolean;
  learningRate?: number;
  /** simclr: NT-Xent temperature. */
  temperature?: number;
  /** simclr: weight of the CutPaste auxiliary task (0 = off). */
  cutPasteWeight?: number;
  /** classifier and baseline: share of labeled images held out for validation (default 0.2). */
  validationFraction?: number;
  /** At most this many images per object type (chosen by path hash), for quick runs. */
  limitPerType?: number;
  seed?: number;
  /** simclr: continue from the checkpoint folder a cancelled or interrupted run left. */
  resume?: string;
}

export interface TrainResult {
  /** The model folder written. */
  modelDir: string;
  kind: TrainMethod;
  objectTypes: string[];
  inputSize: number;
  /** Whatever the method reports: loss curve, validation metrics. */
  metrics: Record<string, unknown>;
  /** One line for the inspector. */
  summary: string;
  skippedImages: FileProblem[];
  /** The models row it was recorded under (train/start jobs). */
  modelId?: number;
}

export type EvalDetectorName = 'one-class' | 'zero-shot' | 'classifier' | 'baseline';

export interface EvalRequest {
  /** A folder in MVTec AD layout. */
  root: string;
  pretrainTypes: string[];
  /** Object types never seen in training; every metric is measured on these. */
  testTypes: string[];
  detector: EvalDetectorName;
  /** 'mobilenetv3' (default) | 'resnet-simclr' | 'mobilenetv3-simclr' | a saved encoder or model folder. */
  encoder?: string;
  shots?: number;
  inputSize?: number;
  epochs?: number;
  batchSize?: number;
  seed?: number;
}

export interface EvalMetricsDto {
  image_auroc: number;
  average_precision: number;
  f1_max: number;
  precision: number;
  recall: number;
  f1: number;
  accuracy: number;
  balanced_accuracy: number;
  /** Share of defects caught with at most 1 % / 5 % of the good images flagged (best threshold). */
  recall_at_1pct_fpr: number;
  recall_at_5pct_fpr: number;
  /** Share of the good images flagged at the product's threshold. */
  false_alarm_rate: number;
  pixel_auroc: number | null;
}

export interface EvalTypeResultDto extends EvalMetricsDto {
  type: string;
  /** [width, height] the images were scored at (the type's own aspect, or a square). */
  input_shape: [number, number];
  images: number;
  defects: number;
  threshold_method: string;
  failed_images: number;
  /** One-class: the feature maps used, and the choice between candidates when eval made one. */
  layers?: FeatureName[];
  layer_choice?: LayerChoiceDto | null;
  /** One-class with --defect-head: the head's held-out check, and whether it is used. */
  defect_head?: DefectHeadCheckDto | null;
  /** One-class with --reviewed: what the reviewed defects taught (DefectMemoryDto). */
  defect_memory?: DefectMemoryDto | null;
  /** One-class: whether it scores relative to each place (PlacesDto). */
  places?: PlacesDto | null;
}

/** A defect head's check (defect-head.ts): patch AUROC on held-out painted images; used if passed. */
export interface DefectHeadCheckDto {
  heldOutAuroc: number | null;
  /** Held-out good images it was checked and weighed on. */
  heldOutImages: number;
  used: boolean;
  /** When used: what its P(defect) is multiplied by before it is added to a patch's distance. */
  weight?: number;
}

/**
 * Whether a one-class model scores each patch relative to its place (places.ts): the image AUROC
 * of the held-out good images against the same images with defects painted in, as they are and
 * relative to each place, each half's places judging the other half; used when relative is higher.
 */
export interface PlacesDto {
  heldOutImages: number;
  auroc: number;
  placedAuroc: number;
  used: boolean;
  /**
   * The held-out painted-defect AUROC with each image also scored mirrored, flipped and half
   * turned, the four maps averaged, against `viewsOff` without; each relative to each place where
   * its places are kept (models learned before session 21: as they are); absent in models learned
   * before the views were tried. `viewed`: whether it scores them (then `auroc` and `placedAuroc`
   * are measured on the averaged maps).
   */
  viewedAuroc?: number;
  viewsOff?: number;
  viewed?: boolean;
  /** Set when the inspector chose the views (ViewsChoice) rather than the painted defects. */
  viewsSet?: 'on' | 'off';
}

/**
 * Whether a one-class model scores each image also mirrored, flipped and half turned: 'auto'
 * where its held-out painted defects gain VIEWS_GAIN from them, or as the inspector sets it.
 */
export const VIEWS_CHOICES = ['auto', 'on', 'off'] as const;
export type ViewsChoice = (typeof VIEWS_CHOICES)[number];

/**
 * What reviewed defects taught a one-class model (defect-memory.ts): the weight two-fold
 * cross-validation chose (0: the bank alone validated as well, so no memory was kept).
 */
export interface DefectMemoryDto {
  defectImages: number;
  /** Held-out good images the defects were judged against. */
  goodImages: number;
  weight: number;
  /** Whether it keeps only the defects' patches above the best good image's score. */
  aboveGood: boolean;
  /**
   * Each candidate tried, with its cross-validated AUROC and the AUROC of the good images as it
   * scores them against the defects as the bank alone does (a defect it never learned).
   */
  candidates: {
    weight: number;
    aboveGood: boolean;
    validationAuroc: number;
    unlearnedAuroc: number;
  }[];
}

/** The cross-type evaluation report (the engine's EvalReport, as the UI sees it). */
export interface EvalReportDto {
  detector: EvalDetectorName;
  encoder: string;
  input_size: number;
  shots: number | null;
  pretrain_types: string[];
  test_types: string[];
  types: EvalTypeResultDto[];
  overall: EvalMetricsDto;
  seconds: number;
}

// ---- Models, retraining -------------------------------------------------------------------

export type ModelStatus = 'training' | 'ready' | 'active' | 'retired' | 'failed';

export interface ModelDto {
  id: number;
  kind: string;
  name: string;
  objectTypes: string[];
  config: Record<string, unknown>;
  metrics: Record<string, unknown> | null;
  /** The model folder. */
  path: string | null;
  parentId: number | null;
  status: ModelStatus;
  createdAt: string;
  /** The validation images' scores, when the model recorded them: the model page's curves. */
  validation?: ModelValidationDto | null;
}

/**
 * The labeled images a model scored in inspections (models/scored): each one's 0..1 score and its
 * truth, the inspector's latest verdict where there is one, else the image's own label.
 */
export interface ScoredTruthDto {
  scores: number[];
  /** 1 = defect, 0 = good, one per score. */
  labels: (0 | 1)[];
}

/** Scores on the 0..1 scale (threshold 0.5) of a model's validation images, with their truth. */
export interface ModelValidationDto extends ScoredTruthDto {
  /** 'labels': real defect labels; 'synthetic': defects painted into held-out good images. */
  defects: 'labels' | 'synthetic';
}

/**
 * Side, in pixels, that detectors resize images to unless told otherwise (`--size`). 448 px lifts
 * the synthetic textures' thin defects (one-class 0.972 → 0.986 with scales 1 + 0.5, the half
 * judged relative to each image; zero-shot 0.878 → 0.959 with stride 4 + 8) but costs 4–50× the
 * time, and it or stride 4 alone lowered the real ELPV cells (EVALUATION.md), so the default
 * stays 224; ask for DETAIL_LEVELS.fine per type where defects are thin.
 */
export const DEFAULT_INPUT_SIZE = 224;
/** The largest input side a request may ask for; larger images are scored in tiles instead. */
export const MAX_INPUT_SIZE = 1024;

/**
 * Encoder feature maps patch features can be taken from, by their stride: the last block at each
 * stride, and `stride16mid`, a block halfway through the stride-16 ones (MobileNetV3's block 8 of
 * 6–11), which zero-shot reads (EVALUATION.md, sessions 26 and 27). An encoder may lack it, and
 * stride4.
 */
export const FEATURE_NAMES = ['stride4', 'stride8', 'stride16', 'stride16mid'] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];

/**
 * The feature sets a one-class model chooses between per type (retrain, and eval so that it
 * measures what the app ships), unless told which: each is fitted, and the one that best separates
 * held-out good images from the same images with defects painted in (engine/synthetic-defects.ts;
 * reviewed defects when the type has them) is kept. No single set wins on every real type: stride
 * 4 + 8 sees casting's pinholes (0.986 against 0.926), stride 8 + 16 sees ELPV poly's cracks in
 * its grain (0.881 against 0.828); EVALUATION.md. The first is kept on a tie.
 */
export const LAYER_CANDIDATES: readonly (readonly FeatureName[])[] = [
  ['stride4', 'stride8'],
  ['stride8', 'stride16'],
];

/**
 * What a one-class model's feature choice saw: each candidate's validation AUROC. `augmented`
 * (on the choice and each candidate) is there when the views were a candidate too (learnsViews):
 * whether the bank also learned the good images mirrored and turned.
 */
export interface LayerChoiceDto {
  layers: FeatureName[];
  augmented?: boolean;
  candidates: { layers: FeatureName[]; augmented?: boolean; validationAuroc: number }[];
}

/**
 * How fine a look the patch detectors take, as the app offers it. `standard` lets retrain choose
 * the one-class feature maps per type (LAYER_CANDIDATES); `fine` is the measured setting
 * for thin defects (448 px; one-class also at half that, one memory bank per scale, the half
 * judged relative to each image for large faint stains, on stride 4 + 8 features; zero-shot on
 * stride 4 + 8 too).
 */
export type DetailLevel = 'standard' | 'fine';
export const DETAIL_LEVELS: Readonly<
  Record<
    DetailLevel,
    {
      retrain: Required<Pick<RetrainRequest, 'inputSize' | 'scales' | 'centredScales'>> &
        Pick<RetrainRequest, 'layers'>;
      zeroShot: Required<Pick<InspectRequest, 'inputSize' | 'layers'>>;
    }
  >
> = {
  standard: {
    retrain: { inputSize: DEFAULT_INPUT_SIZE, scales: [1], centredScales: [] },
    zeroShot: { inputSize: DEFAULT_INPUT_SIZE, layers: ['stride8', 'stride16mid'] },
  },
  fine: {
    retrain: {
      inputSize: 448,
      scales: [1, 0.5],
      centredScales: [0.5],
      layers: ['stride4', 'stride8'],
    },
    zeroShot: { inputSize: 448, layers: ['stride4', 'stride8'] },
  },
};

/** The detail level whose zero-shot settings these are, or null for settings of no level. */
export function zeroShotDetailLevel(detail: {
  inputSize: number;
  layers: readonly FeatureName[];
}): DetailLevel | null {
  const same = (level: DetailLevel) => {
    const { inputSize, layers } = DETAIL_LEVELS[level].zeroShot;
    return inputSize === detail.inputSize && layers.join() === detail.layers.join();
  };
  return (Object.keys(DETAIL_LEVELS) as DetailLevel[]).find(same) ?? null;
}

export interface RetrainRequest {
  objectType: string;
  /** Side images are resized to (default DEFAULT_INPUT_SIZE). */
  inputSize?: number;
  /** One-class: image scales (fractions of inputSize) with a memory bank each; default [1]. */
  scales?: number[];
  /** One-class: the scales judged relative to each image (PatchcoreConfig.centredScales). */
  centredScales?: number[];
  /** One-class: the feature maps; chosen per type among LAYER_CANDIDATES when absent. */
  layers?: FeatureName[];
  /**
   * Score large images in tiles of `inputSize` at this short side (e.g. 448); null scores whole
   * images. Default: the type's active model's setting, else none. It stays with the type's models.
   */
  tileScale?: number | null;
  /**
   * One-class: add the defect head, trained on defects painted into the type's good images
   * (PatchcoreConfig.head; used where it passes its own check). Default: on, unless the type's
   * active model was retrained with it off.
   */
  defectHead?: boolean;
  /**
   * One-class: score each image also mirrored and turned (ViewsChoice). Default: as the type's
   * active model was set by hand, else auto. A setting by hand stays with the type's models.
   */
  views?: ViewsChoice;
  /** A model folder whose encoder the new model uses (e.g. a SimCLR run); default MobileNetV3. */
  encoderFrom?: string;
  /**
   * Share of good parts the threshold may flag, set on held-out good images (0.02 = 2 %). Default:
   * the rate the type's active model was set for, else 2 %. It stays with the type's models.
   */
  falseAlarmRate?: number;
  /**
   * Region of interest (image pixels) that scoring and heatmaps keep to; null clears it. Default:
   * the active model's region, if any. It stays with the type's models, like the false-alarm rate.
   */
  roi?: Roi | null;
}

export interface RetrainSummary {
  modelId: number;
  /** 'one-class', or 'classifier' when a head trained on the defect labels validated better. */
  kind?: string;
  /** Whether the new model replaced the active one. */
  activated: boolean;
  /** Why it was or was not activated, for the inspector. */
  reason: string;
  metrics: Record<string, unknown>;
  previous?: { modelId: number; imageAuroc: number };
  path: string;
  /** The region of interest the model keeps to; null: the whole image. */
  roi: Roi | null;
  /** The zero-shot inspection whose region a type's first retrain kept, when it kept one. */
  roiFromInspection?: number;
  /** One-class: its feature maps, and the validation that chose them (null when set). */
  layers?: FeatureName[];
  layerChoice?: LayerChoiceDto | null;
  /** One-class asked for the defect head: its check, and whether it is used. */
  defectHead?: DefectHeadCheckDto | null;
  /** One-class fitted on few good images, each learned mirrored and turned too (learnsViews). */
  augmented?: boolean;
  /** One-class with reviewed defects: what they taught (DefectMemoryDto). */
  defectMemory?: DefectMemoryDto | null;
  /** One-class without defect labels: whether it scores relative to each place (PlacesDto). */
  places?: PlacesDto | null;
}

// ---- Inspection and review ----------------------------------------------------------------

export interface InspectRequest {
  /** The camera's export folder. */
  folder: string;
  objectType: string;
  /** Keep scoring new files as they arrive, until cancelled. */
  watch?: boolean;
  /** Default: the object type's active model. */
  modelId?: number;
  /** Continue this inspection: score only the files it has no result for (after a crash). */
  inspectionId?: number;
  /**
   * Zero-shot only: side images are resized to. Default, with `layers`: what the type's latest
   * zero-shot inspection was scored at (ObjectTypeSummary.zeroShotDetail), else DETAIL_LEVELS'
   * standard.
   */
  inputSize?: number;
  /** Zero-shot only: the feature maps patches come from (default: as `inputSize` says). */
  layers?: FeatureName[];
  /**
   * Zero-shot only: the region of the folder's images to score (a type's model keeps to the one
   * it was retrained with). Kept with the inspection's references, so a resumed run keeps it too.
   * Default: the type's latest zero-shot inspection's region (ObjectTypeSummary.zeroShotRegion);
   * null scores the whole image.
   */
  roi?: Roi | null;
  /** Which results get a heatmap overlay (default 'flagged': DEFECT and UNSURE). */
  heatmaps?: 'flagged' | 'all' | 'none';
}

export interface InspectSummary {
  inspectionId: number;
  scored: number;
  flagged: number;
  unsure: number;
  failed: number;
  ok: number;
  folder: string;
  objectType: string;
  /** The model row that scored; null for zero-shot. */
  modelId: number | null;
  /** 'one-class', 'zero-shot', … */
  modelKind: string;
  /** Raw-score threshold of the calibration (normalised to 0.5). */
  threshold: number;
  /** The region of interest scoring kept to (the model's, or the zero-shot one); null: none. */
  roi: Roi | null;
  seconds: number;
}

export type Verdict = 'defect' | 'good';

export interface ReviewDto {
  id: number;
  resultId: number;
  verdict: Verdict;
  who: string;
  at: string;
  note: string | null;
}

/** One scored image of an inspection. */
export interface InspectionResultDto {
  id: number;
  inspectionId: number;
  objectType: string | null;
  path: string;
  imageId: number | null;
  modelId: number | null;
  /** 0..1, the decision threshold at 0.5; null when the file could not be scored. */
  score: number | null;
  decision: Decision | null;
  heatmapPath: string | null;
  /** Why the file could not be scored. */
  error: string | null;
  createdAt: string;
  /** The latest review, if any. */
  review: ReviewDto | null;
}

/**
 * Why a file could not be scored, without its path (`empty: the file is empty …`): for beside the
 * file's name, where the error's own copy of the path would say it twice.
 */
export function unreadableReason(result: { path: string; error: string }): string {
  return result.error.replace(`${result.path}: `, '');
}

export interface InspectionResultQuery extends PageRequest {
  inspectionId?: number;
  objectType?: string;
  decisions?: Decision[];
  /** Only the files that could not be read, each with its error (empty, not an image, …). */
  unreadable?: boolean;
  /** Default 'worst-first'. */
  order?: 'worst-first' | 'newest-first';
}

export interface ReviewQueueRequest {
  inspectionId?: number;
  objectType?: string;
  limit?: number;
}

export interface VerdictRequest {
  resultId: number;
  verdict: Verdict;
  /** Default: the inspector named in the settings. */
  who?: string;
  note?: string;
}

/** Every OK result of an inspection without a verdict gets 'good': the inspector looked at them. */
export interface ConfirmOkRequest {
  inspectionId: number;
  /** Default: the inspector named in the settings. */
  who?: string;
}

export interface ConfirmOkSummary {
  /** How many OK results got a 'good' verdict (and their images the label). */
  confirmed: number;
  /** Files that could not be recorded (gone since they were scored, …): no verdict given. */
  skipped: FileProblem[];
}

// ---- Jobs ---------------------------------------------------------------------------------

export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';

/** Statuses a job never leaves (an interrupted job may be resumed under a new run). */
export const finishedJobStatuses: readonly JobStatus[] = [
  'done',
  'failed',
  'cancelled',
  'interrupted',
];

/** What each kind of job is started with and hands back when done. */
export interface JobKinds {
  import: { args: ImportRequest; result: ImportSummary };
  train: { args: TrainRequest; result: TrainResult };
  eval: { args: EvalRequest; result: EvalReportDto };
  retrain: { args: RetrainRequest; result: RetrainSummary };
  inspect: { args: InspectRequest; result: InspectSummary };
}

export type JobKind = keyof JobKinds;
export const jobKinds: readonly JobKind[] = ['import', 'train', 'eval', 'retrain', 'inspect'];

export interface JobProgress {
  done: number;
  /** 0 when the amount of work is not known. */
  total: number;
  /** Units of work per second over the last few seconds; null until measurable. */
  rate: number | null;
  /** Seconds left at that rate; null when unknown. */
  etaSeconds: number | null;
  /** What is being done now ("epoch 3/10, loss 0.412"). */
  message: string | null;
}

export interface JobFailure {
  /** An ErrorCode, 'internal' for a bug, or 'interrupted'. */
  code: string;
  message: string;
}

interface JobBase {
  id: string;
  status: JobStatus;
  progress: JobProgress;
  error: JobFailure | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** A job as the UI sees it; `kind` tells its argument and result types. */
export type JobDto<K extends JobKind = JobKind> = {
  [P in K]: JobBase & { kind: P; args: JobKinds[P]['args']; result: JobKinds[P]['result'] | null };
}[K];

export interface JobQuery extends PageRequest {
  kinds?: JobKind[];
  statuses?: JobStatus[];
}

// ---- App and settings ---------------------------------------------------------------------

export type BackendChoice = 'auto' | 'gpu' | 'webgpu' | 'node' | 'wasm' | 'cpu';

export interface Settings {
  /** Recorded with every verdict and relabel unless a call names someone else. */
  inspector: string;
  /** The TF.js backend the engine starts with; 'auto' picks the fastest installed. */
  backend: BackendChoice;
  /**
   * Half-width of the band around the 0.5 threshold whose images go to review as UNSURE
   * instead of being decided (0 = decide everything). Applies to inspections started after.
   */
  unsureBand: number;
}

/** A GPU adapter WebGPU (Dawn) found; `software` ones (e.g. llvmpipe) are used only on request. */
export interface GpuAdapterDto {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software rasteriser (e.g. Mesa's llvmpipe): correct, but slower than the wasm backend. */
  software: boolean;
  /** The limits that bound one tensor on this adapter, in bytes. */
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
}

export interface EngineBackendDto {
  name: string;
  label: string;
  threads: number;
  tfjsVersion: string;
  attempts: { name: string; ok: boolean; reason: string }[];
  /** The GPU adapter found, whether or not the engine uses it. */
  gpuAdapter?: GpuAdapterDto;
}

export interface AppInfo {
  version: string;
  node: string;
  data: { folder: string; database: string; schemaVersion: number };
  engine: { pid: number | null; backend: EngineBackendDto };
}
