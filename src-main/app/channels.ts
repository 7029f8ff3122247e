// The two IPC channels between main and the preload, and the event names the preload accepts.
import type { EventName } from '../shared/contract.js';

export const INVOKE_CHANNEL = 'defectscope:invoke';
export const EVENT_CHANNEL = 'defectscope:event';

/** Every contract event; the compiler checks the list is complete. */
const events = {
  'job/queued': true,
  'job/started': true,
  'job/progress': true,
  'job/log': true,
  'job/done': true,
  'inspect/result': true,
  'datasets/changed': true,
  'models/changed': true,
  'settings/changed': true,
  'engine/state': true,
} satisfies Record<EventName, true>;

export const eventNames = Object.keys(events) as EventName[];
