// The one contract between the UI (renderer, HTTP client, CLI) and the main side: every call as
// 'domain/verb' with its argument and result, and every event the main side pushes. Handlers are
// checked against `Calls`; clients get the right types back from `invoke`.
import type {
  AppInfo,
  ConfirmOkRequest,
  ConfirmOkSummary,
  ImageDto,
  ImageFilter,
  ImportRequest,
  InspectRequest,
  InspectionResultDto,
  InspectionResultQuery,
  EvalRequest,
  JobDto,
  JobKind,
  JobProgress,
  JobQuery,
  ModelDto,
  ObjectTypeSummary,
  Page,
  PageRequest,
  RelabelRequest,
  RetrainRequest,
  ReviewDto,
  ReviewQueueRequest,
  ScoredTruthDto,
  Settings,
  TrainRequest,
  VerdictRequest,
} from './dto.js';
import type { WireError } from './errors.js';

/** What a call that starts long work returns; progress and the result arrive as job events. */
export interface JobStarted {
  jobId: string;
}

type NoArgs = Record<string, never>;

/** How an answer crosses a process boundary (IPC, HTTP): a value, or a typed error. */
export type CallAnswer<T = unknown> = { ok: true; value: T } | { ok: false; error: WireError };

export type Calls = {
  // -- app
  'app/info': { args: NoArgs; result: AppInfo };

  // -- datasets
  /** Long: scans, hashes and thumbnails every image, then records them. */
  'datasets/import': { args: ImportRequest; result: JobStarted };
  'datasets/types': { args: NoArgs; result: ObjectTypeSummary[] };
  'datasets/images': { args: ImageFilter & PageRequest; result: Page<ImageDto> };
  /** Appends a label to each image's history; `changed` counts images whose label changed. */
  'datasets/relabel': { args: RelabelRequest; result: { changed: number } };

  // -- training and evaluation
  'train/start': { args: TrainRequest; result: JobStarted };
  /** The seed's cross-type protocol on a dataset folder; the job's result is the report. */
  'eval/start': { args: EvalRequest; result: JobStarted };

  // -- models
  'models/list': { args: { objectType?: string }; result: ModelDto[] };
  'models/activate': { args: { modelId: number }; result: ModelDto };
  /** Every labeled image the model scored in inspections, with its truth: real-world curves. */
  'models/scored': { args: { modelId: number }; result: ScoredTruthDto };
  /** One-click retrain of an object type's model from its reviewed labels. */
  'retrain/start': { args: RetrainRequest; result: JobStarted };

  // -- inspection and review
  /** Scores a folder (and, with watch, its new files until cancelled). */
  'inspect/start': { args: InspectRequest; result: JobStarted };
  'inspect/results': { args: InspectionResultQuery; result: Page<InspectionResultDto> };
  /** Flagged and unsure results without a verdict, worst first. */
  'review/queue': { args: ReviewQueueRequest; result: InspectionResultDto[] };
  'review/verdict': { args: VerdictRequest; result: ReviewDto };
  /** A 'good' verdict for each OK result of an inspection that has none, in one go. */
  'review/confirm-ok': { args: ConfirmOkRequest; result: ConfirmOkSummary };

  // -- jobs
  'jobs/list': { args: JobQuery; result: Page<JobDto> };
  /** The job with its log. */
  'jobs/get': { args: { jobId: string }; result: JobDto & { log: string } };
  /** Stops a queued or running job; answers with the job as it is now (it may still be stopping). */
  'jobs/cancel': { args: { jobId: string }; result: JobDto };

  // -- settings
  'settings/get': { args: NoArgs; result: Settings };
  /** Changes the named settings; answers with all of them. */
  'settings/set': { args: Partial<Settings>; result: Settings };
};

export type CallName = keyof Calls;
export type CallArgs<K extends CallName> = Calls[K]['args'];
export type CallResult<K extends CallName> = Calls[K]['result'];

/** Handlers for every call, given the main side's context type (see src-main/api/context.ts). */
export type HandlersOf<Context> = {
  [K in CallName]: (args: CallArgs<K>, ctx: Context) => Promise<CallResult<K>>;
};

export type Events = {
  /** A job was created; it runs when its lane is free. */
  'job/queued': JobDto;
  'job/started': JobDto;
  'job/progress': { jobId: string; kind: JobKind; progress: JobProgress };
  'job/log': { jobId: string; kind: JobKind; line: string; at: string };
  /** The job ended: done, failed, cancelled, or interrupted (its process stopped). */
  'job/done': JobDto;
  /** One image of a running inspection was scored. */
  'inspect/result': InspectionResultDto;
  /** Images or labels changed (import, relabel, review): lists and counts are stale. */
  'datasets/changed': { objectTypes: string[] | null }; // null: any of them
  'models/changed': { objectTypes: string[] };
  'settings/changed': Settings;
  /** The engine process started, stopped, or crashed (and will restart on the next request). */
  'engine/state': {
    state: 'started' | 'stopped' | 'crashed';
    pid: number | null;
    /** Why it stopped, for a crash. */
    reason: string | null;
  };
};

export type EventName = keyof Events;

/** Anything that pushes events (the main side's event bus, a test's recorder). */
export type Emit = <E extends EventName>(name: E, payload: Events[E]) => void;
