// Long CLI work runs as a job through the same services and router as the app: open them on the
// data folder, start the job, print its progress, and turn Ctrl-C into a clean cancel.
import { openServices, type AppServices } from '../api/services.js';
import type { JobDto } from '../shared/dto.js';
import { BadArgumentError, fromWireError, type WireError } from '../shared/errors.js';
import type { CliContext, ParsedArgs } from './command.js';
import { stringOption } from './common.js';

const backends = ['gpu', 'webgpu', 'node', 'wasm', 'cpu'];

/** Services on the command's --data-dir, with the engine on --backend when given. */
export function servicesFor(args: ParsedArgs): AppServices {
  const dataDir = stringOption(args, 'data-dir');
  const services = openServices(dataDir ? { dataDir } : {});
  const backend = stringOption(args, 'backend');
  if (backend !== undefined) {
    if (!backends.includes(backend)) {
      void services.close();
      throw new BadArgumentError(
        `--backend must be one of ${backends.join(', ')}, not '${backend}'.`,
      );
    }
    services.ctx.engine.configure({ DEFECTSCOPE_BACKEND: backend });
  }
  return services;
}

/**
 * Waits for a job, printing progress lines to stderr (at most one a second, and every new
 * message) and cancelling it on Ctrl-C (a second Ctrl-C leaves at once).
 */
export async function followJob(
  services: AppServices,
  jobId: string,
  ctx: CliContext,
  label: string,
): Promise<JobDto> {
  const { events, jobs } = services.ctx;
  let lastLine = '';
  let lastAt = 0;
  const unsubscribe = [
    events.on('job/progress', ({ jobId: id, progress }) => {
      if (id !== jobId) return;
      const now = Date.now();
      const count = progress.total > 0 ? `${progress.done}/${progress.total}` : `${progress.done}`;
      const eta = progress.etaSeconds !== null ? `, ETA ${Math.round(progress.etaSeconds)} s` : '';
      const line = `${label}: ${progress.message ?? ''} (${count}${eta})`;
      if (line === lastLine || (now - lastAt < 1000 && progress.message === null)) return;
      lastLine = line;
      lastAt = now;
      ctx.err(line);
    }),
    events.on('job/log', ({ jobId: id, line }) => {
      if (id === jobId && process.env.DEFECTSCOPE_DEBUG) ctx.err(`  ${line}`);
    }),
  ];
  let interrupts = 0;
  const onInterrupt = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    ctx.err(`${label}: stopping (Ctrl-C again to leave at once)…`);
    jobs.cancel(jobId);
  };
  process.on('SIGINT', onInterrupt);
  try {
    return await jobs.settled(jobId);
  } finally {
    process.off('SIGINT', onInterrupt);
    for (const off of unsubscribe) off();
  }
}

/**
 * Follows a job to its end, given the router's call that starts it (`inspect/start`, …), and
 * returns its result, or throws its failure.
 */
export async function runJob<T>(
  services: AppServices,
  ctx: CliContext,
  label: string,
  started: Promise<{ jobId: string }>,
): Promise<T> {
  const { jobId } = await started;
  return jobOutcome<T>(await followJob(services, jobId, ctx, label));
}

/** The job's result, or its failure as an error with the job's own message. */
export function jobOutcome<T>(job: JobDto): T {
  if (job.status === 'done') return job.result as T;
  throw fromWireError({
    code: (job.error?.code ?? 'internal') as WireError['code'],
    message: job.error?.message ?? `The job ended ${job.status}.`,
  });
}
