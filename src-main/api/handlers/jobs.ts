// jobs/list, jobs/get and jobs/cancel.
import { NotFoundError } from '../../shared/errors.js';
import type { Handlers } from '../context.js';
import { page } from './paging.js';

export const jobsHandlers = {
  'jobs/list': async (query, ctx) =>
    page(query, (offset, limit) => ctx.jobs.list({ ...query, offset, limit })),
  'jobs/get': async ({ jobId }, ctx) => {
    const job = ctx.jobs.getWithLog(jobId);
    if (!job) throw new NotFoundError(`No job ${jobId}.`);
    return job;
  },
  'jobs/cancel': async ({ jobId }, ctx) => ctx.jobs.cancel(jobId),
} satisfies Partial<Handlers>;
