// Every call's handler, in one object the router serves. Calls whose services are still being
// written are listed in `pendingCalls` and answer with an UnavailableError; the compiler checks
// that each call of the contract is in exactly one of the two places.
import type { CallName } from '../../shared/contract.js';
import { UnavailableError } from '../../shared/errors.js';
import type { Handlers } from '../context.js';
import { appHandlers } from './app.js';
import { datasetsHandlers } from './datasets.js';
import { inspectionHandlers } from './inspection.js';
import { jobsHandlers } from './jobs.js';
import { modelsHandlers } from './models.js';
import { settingsHandlers } from './settings.js';
import { trainingHandlers } from './training.js';

/** The calls this build answers. Add a domain's handlers here. */
export const handlers = {
  ...appHandlers,
  ...datasetsHandlers,
  ...trainingHandlers,
  ...modelsHandlers,
  ...inspectionHandlers,
  ...jobsHandlers,
  ...settingsHandlers,
} satisfies Partial<Handlers>;

/**
 * Declared in the contract, not answered yet: models, retraining, inspection and review. Move a
 * name from here into `handlers` when its handler is written.
 */
export const pendingCalls = [] as const satisfies readonly CallName[];

type Answered = keyof typeof handlers;
type Pending = (typeof pendingCalls)[number];
type Unaccounted = Exclude<CallName, Answered | Pending>;
type Twice = Extract<Answered, Pending>;
const everyCallAccountedFor: [Unaccounted] extends [never] ? true : Unaccounted = true;
const noCallTwice: [Twice] extends [never] ? true : Twice = true;
void everyCallAccountedFor;
void noCallTwice;

function unavailable(name: CallName) {
  return async (): Promise<never> => {
    throw new UnavailableError(`${name} is not available in this build of DefectScope yet.`);
  };
}

const pendingHandlers = {} as Record<Pending, () => Promise<never>>;
// Widened so the loop still type-checks while no call is pending.
for (const name of pendingCalls as readonly CallName[])
  (pendingHandlers as Record<string, () => Promise<never>>)[name] = unavailable(name);

/** The complete table the router serves. */
export const allHandlers: Handlers = { ...pendingHandlers, ...handlers };
