// What every handler is given: the store, the job registry, the engine and the event bus. One
// context per process (the Electron main process, the headless server, a CLI run).
import type { HandlersOf } from '../shared/contract.js';
import type { Store } from '../store/store.js';
import type { SettingsRepo } from '../store/repos/settings.repo.js';
import type { EngineClient } from '../jobs/engine-client.js';
import type { JobRegistry } from '../jobs/registry.js';
import type { EventBus } from './events.js';

export interface HandlerContext {
  store: Store;
  settings: SettingsRepo;
  jobs: JobRegistry;
  engine: EngineClient;
  events: EventBus;
}

export type Handlers = HandlersOf<HandlerContext>;
