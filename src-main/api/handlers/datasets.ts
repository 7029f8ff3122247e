// datasets/*: import a folder (a job), list object types and images, relabel images.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { NotFoundError } from '../../shared/errors.js';
import { runImportJob } from '../../jobs/import-job.js';
import { typeSummaries } from '../../inspection/inspect.js';
import type { Handlers } from '../context.js';
import { page } from './paging.js';
import { readSettings } from './settings.js';

/** A folder argument: absolute, and there. */
export function existingFolder(path: string, what: string): string {
  const folder = resolve(path);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new NotFoundError(`${what} ${folder} does not exist or is not a folder.`);
  }
  return folder;
}

export const datasetsHandlers = {
  'datasets/import': async (request, ctx) => {
    const args = { ...request, root: existingFolder(request.root, 'The dataset folder') };
    const job = ctx.jobs.start('import', args, (control) =>
      runImportJob({ store: ctx.store, engine: ctx.engine, emit: ctx.events.emit }, args, control),
    );
    return { jobId: job.id };
  },
  'datasets/types': async (_args, ctx) => typeSummaries(ctx.store),
  'datasets/images': async (query, ctx) =>
    page(query, (offset, limit) =>
      ctx.store.images.list({
        ...(query.objectTypes ? { objectTypes: query.objectTypes } : {}),
        ...(query.split ? { split: query.split } : {}),
        ...(query.label ? { label: query.label } : {}),
        offset,
        limit,
      }),
    ),
  'datasets/relabel': async (request, ctx) => {
    const who = request.who ?? readSettings(ctx.settings).inspector;
    let changed = 0;
    try {
      ctx.store.images.transaction(() => {
        for (const imageId of request.imageIds) {
          if (
            ctx.store.images.label(
              imageId,
              request.label,
              request.defectKind ?? null,
              'review',
              who,
            )
          )
            changed++;
        }
      });
    } catch (error) {
      // The label history references its image: an unknown id fails the whole relabel.
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
        throw new NotFoundError(
          'One of the images to relabel is not in the store; nothing was changed.',
        );
      }
      throw error;
    }
    if (changed > 0) ctx.events.emit('datasets/changed', { objectTypes: null });
    return { changed };
  },
} satisfies Partial<Handlers>;
