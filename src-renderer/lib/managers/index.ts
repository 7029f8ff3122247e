// One set of managers per window, created with the client and shared through Svelte context.
import { getContext, setContext } from 'svelte';
import type { ContractClient } from '../api/client.js';
import { AppManager } from './app-manager.svelte.js';
import { DatasetsManager } from './datasets-manager.svelte.js';
import { InspectionManager } from './inspection-manager.svelte.js';
import { JobsManager } from './jobs-manager.svelte.js';
import { ModelsManager } from './models-manager.svelte.js';
import { ReviewManager } from './review-manager.svelte.js';
import { TrainingManager } from './training-manager.svelte.js';

export function createManagers(client: ContractClient) {
  const app = new AppManager(client);
  const jobs = new JobsManager(client, app);
  const datasets = new DatasetsManager(client, app, jobs);
  return {
    client,
    app,
    jobs,
    datasets,
    training: new TrainingManager(client, app, jobs),
    inspection: new InspectionManager(client, app, jobs, datasets),
    review: new ReviewManager(client, app),
    models: new ModelsManager(client, app, jobs, datasets),
  };
}

export type Managers = ReturnType<typeof createManagers>;

const KEY = Symbol('managers');

export function provideManagers(managers: Managers): void {
  setContext(KEY, managers);
}

export function managers(): Managers {
  return getContext<Managers>(KEY);
}
