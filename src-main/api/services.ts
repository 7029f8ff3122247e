// Opens the main side once per process: the store, the event bus, the job registry (which marks
// jobs of a dead process interrupted), the engine client and the router over them. The Electron
// main process, the headless server and the CLI all start here.
import type { Store } from '../store/store.js';
import { openStore } from '../store/store.js';
import { JobsRepo } from '../store/repos/jobs.repo.js';
import { SettingsRepo } from '../store/repos/settings.repo.js';
import { EngineClient, type EngineLauncher } from '../jobs/engine-client.js';
import { JobRegistry, type JobRegistryOptions } from '../jobs/registry.js';
import type { HandlerContext } from './context.js';
import { EventBus } from './events.js';
import { engineEnv, readSettings } from './handlers/settings.js';
import { createRouter, type Router } from './router.js';

export interface AppServices {
  ctx: HandlerContext;
  router: Router;
  /** Jobs still running are recorded as interrupted; the engine host is stopped. */
  close(): Promise<void>;
}

export interface ServiceOptions {
  /** An open store (tests), or the data folder to open (default: the usual one). */
  store?: Store;
  dataDir?: string;
  /** How the engine host is started (Electron passes a utilityProcess launcher). */
  launchEngine?: EngineLauncher;
  jobs?: JobRegistryOptions;
}

export function openServices(options: ServiceOptions = {}): AppServices {
  const store = options.store ?? openStore(options.dataDir);
  const events = new EventBus();
  const settings = new SettingsRepo(store.db);
  const jobs = new JobRegistry(new JobsRepo(store.db), events.emit, options.jobs);
  const engine = new EngineClient({
    ...(options.launchEngine ? { launch: options.launchEngine } : {}),
    env: engineEnv(readSettings(settings)),
    onState: (state) => events.emit('engine/state', state),
    // TF.js greets on stdout; only someone debugging wants the host's chatter.
    ...(process.env.DEFECTSCOPE_DEBUG
      ? { onOutput: (text: string) => process.stderr.write(text) }
      : {}),
  });
  const ctx: HandlerContext = { store, settings, jobs, engine, events };
  return {
    ctx,
    router: createRouter(ctx),
    async close() {
      jobs.shutdown();
      await engine.close();
      if (!options.store) store.close();
    },
  };
}
