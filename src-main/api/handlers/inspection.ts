// inspect/start (a job; also resumes an inspection a crash stopped), inspect/results, and the
// review queue and verdicts (one at a time, or an inspection's OK results confirmed good at once).
// A verdict is stored with who and when, and becomes a 'review' label on the image (recorded first
// if the inspected file was never imported), so retrain learns it.
import { NotFoundError, BadArgumentError, errorMessage } from '../../shared/errors.js';
import type {
  ConfirmOkRequest,
  ConfirmOkSummary,
  FileProblem,
  InspectRequest,
  InspectionResultDto,
  ReviewDto,
  VerdictRequest,
} from '../../shared/dto.js';
import { recordProbed, startSummary } from '../../data/importers/import.js';
import { noImagesProblem, runInspection } from '../../inspection/inspect.js';
import type { HandlerContext, Handlers } from '../context.js';
import { existingFolder } from './datasets.js';
import { page } from './paging.js';
import { readSettings } from './settings.js';

/** Results read a page at a time where an inspection's are gone through. */
const PAGE = 500;

/** Starts an inspection job, or resumes one: an interrupted job runs again under its own id. */
export function startInspection(ctx: HandlerContext, request: InspectRequest) {
  const args = { ...request, folder: existingFolder(request.folder, 'The folder to inspect') };
  // A watch waits for the camera, and a resumed inspection may have scored every file already.
  const empty = args.watch || args.inspectionId !== undefined ? null : noImagesProblem(args.folder);
  if (empty) throw new BadArgumentError(empty);
  const work = (job: Parameters<typeof runInspection>[2]) =>
    runInspection(
      {
        store: ctx.store,
        engine: ctx.engine,
        emit: ctx.events.emit,
        unsureBand: readSettings(ctx.settings).unsureBand,
      },
      args,
      job,
    );
  if (args.inspectionId !== undefined) {
    const inspection = ctx.store.inspections.get(args.inspectionId);
    if (!inspection) throw new NotFoundError(`No inspection ${args.inspectionId}.`);
    const previous = inspection.jobId ? ctx.jobs.get(inspection.jobId) : undefined;
    if (previous?.status === 'running' || previous?.status === 'queued')
      throw new BadArgumentError(
        `Inspection ${inspection.id} is still running (job ${previous.id}).`,
      );
    if (previous?.status === 'interrupted') return ctx.jobs.resume<'inspect'>(previous.id, work);
  }
  return ctx.jobs.start('inspect', args, work);
}

/**
 * Resumes every inspection whose job was interrupted (the app closed or crashed while it ran),
 * under the same job id, skipping the files it had already scored. The desktop app and the
 * headless server call this once at start-up; a one-off CLI command does not, as it would stop
 * them again when it exits.
 */
export function resumeInterruptedInspections(ctx: HandlerContext): string[] {
  const resumed: string[] = [];
  for (const job of ctx.jobs.interruptedJobs('inspect')) {
    const inspection = ctx.store.inspections.forJob(job.id);
    if (!inspection) continue;
    try {
      startInspection(ctx, { ...job.args, inspectionId: inspection.id });
      resumed.push(job.id);
    } catch (error) {
      // The folder may be gone (a removed USB drive); the job stays interrupted and says why.
      console.error(`Inspection ${inspection.id} was not resumed: ${String(error)}`);
    }
  }
  return resumed;
}

export async function recordVerdict(
  ctx: Pick<HandlerContext, 'store' | 'engine' | 'settings' | 'events'>,
  request: VerdictRequest,
): Promise<ReviewDto> {
  const { review, objectType } = await storeVerdict(ctx, request);
  ctx.events.emit('datasets/changed', { objectTypes: [objectType] });
  return review;
}

/**
 * A 'good' verdict for each OK result of the inspection without one: the inspector looked at the
 * batch and agrees, so a type inspected zero-shot gets the good images its first retrain needs.
 * A file gone since it was scored is skipped and said; the others are still recorded.
 */
export async function confirmOk(
  ctx: Pick<HandlerContext, 'store' | 'engine' | 'settings' | 'events'>,
  request: ConfirmOkRequest,
): Promise<ConfirmOkSummary> {
  const { store } = ctx;
  const inspection = store.inspections.get(request.inspectionId);
  if (!inspection) throw new NotFoundError(`No inspection ${request.inspectionId}.`);
  const pending: InspectionResultDto[] = [];
  for (let offset = 0; ; offset += PAGE) {
    const rows = store.results.list({
      inspectionId: inspection.id,
      decisions: ['OK'],
      offset,
      limit: PAGE,
    });
    pending.push(...rows.filter((r) => r.review === null));
    if (rows.length < PAGE) break;
  }
  const skipped: FileProblem[] = [];
  for (const result of pending) {
    try {
      await storeVerdict(ctx, {
        resultId: result.id,
        verdict: 'good',
        ...(request.who ? { who: request.who } : {}),
      });
    } catch (error) {
      skipped.push({ path: result.path, problem: 'not-recorded', message: errorMessage(error) });
    }
  }
  const objectTypes = [...new Set(pending.map((r) => r.objectType!))];
  if (pending.length > skipped.length) ctx.events.emit('datasets/changed', { objectTypes });
  return { confirmed: pending.length - skipped.length, skipped };
}

/** Stores a verdict and labels its image (recorded first where it never was); no event. */
async function storeVerdict(
  ctx: Pick<HandlerContext, 'store' | 'engine' | 'settings'>,
  request: VerdictRequest,
): Promise<{ review: ReviewDto; objectType: string }> {
  const { store } = ctx;
  const result = store.results.get(request.resultId);
  if (!result) throw new NotFoundError(`No inspection result ${request.resultId}.`);
  if (result.score === null || !result.objectType)
    throw new BadArgumentError(
      `Result ${result.id} has no score (${result.error ?? 'not scored'}); there is nothing to review.`,
    );
  const who = request.who ?? readSettings(ctx.settings).inspector;
  const objectTypeId = store.objectTypes.ensure(result.objectType);
  let imageId =
    result.imageId ??
    (result.sha256 ? store.images.find(objectTypeId, result.sha256)?.id : undefined);
  if (imageId === undefined) {
    // Never imported: the host reads it (hash, size, thumbnail) and it joins the type unsplit.
    const outcomes = await ctx.engine.run('import-probe', {
      entries: [
        {
          path: result.path,
          objectType: result.objectType,
          split: 'unsplit',
          label: null,
          defectKind: null,
          maskPath: null,
        },
      ],
      thumbnailsDir: store.paths.thumbnails,
    });
    const outcome = outcomes[0];
    if (!outcome || 'problem' in outcome)
      throw new NotFoundError(
        `Cannot record the verdict's image: ${outcome && 'problem' in outcome ? outcome.problem.message : result.path}`,
      );
    const summary = startSummary(result.path, { layout: 'unlabeled', entries: [], skipped: [] });
    recordProbed(store, summary, outcomes, who);
    imageId = store.images.find(objectTypeId, outcome.probed.sha256)!.id;
  }
  const review = store.images.transaction(() => {
    const added = store.reviews.add({
      resultId: result.id,
      verdict: request.verdict,
      who,
      note: request.note ?? null,
    });
    store.images.label(imageId, request.verdict, null, 'review', who);
    store.results.setImage(result.id, imageId);
    return added;
  });
  return { review, objectType: result.objectType };
}

export const inspectionHandlers = {
  'inspect/start': async (request, ctx) => ({ jobId: startInspection(ctx, request).id }),
  'inspect/results': async (query, ctx) =>
    page(query, (offset, limit) => ctx.store.results.list({ ...query, offset, limit })),
  'review/queue': async (request, ctx) => ctx.store.results.reviewQueue(request),
  'review/verdict': async (request, ctx) => recordVerdict(ctx, request),
  'review/confirm-ok': async (request, ctx) => confirmOk(ctx, request),
} satisfies Partial<Handlers>;
