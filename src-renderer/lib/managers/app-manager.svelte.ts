// App-wide state: which view is open, what the app runs on (app/info), the settings, the engine
// host's state, and the notices (errors and confirmations) shown to the inspector.
import type { AppInfo, Settings } from '../../../src-main/shared/dto.js';
import type { ContractClient } from '../api/client.js';

export type View = 'datasets' | 'train' | 'inspect' | 'review' | 'models' | 'settings';

export interface Notice {
  id: number;
  kind: 'error' | 'info';
  text: string;
}

export class AppManager {
  view = $state<View>('datasets');
  info = $state<AppInfo | null>(null);
  settings = $state<Settings | null>(null);
  engineState = $state<'started' | 'stopped' | 'crashed' | 'unknown'>('unknown');
  engineReason = $state<string | null>(null);
  notices = $state<Notice[]>([]);
  private nextNotice = 1;

  constructor(private readonly client: ContractClient) {
    client.on('settings/changed', (settings) => (this.settings = settings));
    client.on('engine/state', (state) => {
      this.engineState = state.state;
      this.engineReason = state.reason;
      if (state.state === 'crashed') {
        this.notify(
          `The engine stopped: ${state.reason ?? 'unknown reason'}. It restarts on the next task.`,
        );
      }
    });
  }

  async load(): Promise<void> {
    await Promise.all([
      this.attempt(async () => (this.settings = await this.client.invoke('settings/get', {}))),
      // Asking starts the engine host, which can take a few seconds: it must not hold up the rest.
      this.attempt(async () => {
        this.info = await this.client.invoke('app/info', {});
        this.engineState = 'started';
      }),
    ]);
  }

  /** The engine backend in words (GPU / native CPU / WebAssembly / plain JavaScript). */
  get backendLabel(): string {
    const backend = this.info?.engine.backend;
    if (!backend) return this.engineState === 'crashed' ? 'engine stopped' : 'starting engine…';
    return backend.label;
  }

  async saveSettings(changes: Partial<Settings>): Promise<void> {
    await this.attempt(async () => {
      this.settings = await this.client.invoke('settings/set', changes);
      this.notify('Settings saved.', 'info');
      if (changes.backend) this.info = await this.client.invoke('app/info', {});
    });
  }

  notify(text: string, kind: Notice['kind'] = 'error'): void {
    const id = this.nextNotice++;
    this.notices = [...this.notices.slice(-3), { id, kind, text }];
    setTimeout(() => this.dismiss(id), kind === 'error' ? 10_000 : 4_000);
  }

  dismiss(id: number): void {
    this.notices = this.notices.filter((n) => n.id !== id);
  }

  /** Runs a call; a failure becomes a notice with the error's own message (it says what to do). */
  async attempt<T>(work: () => Promise<T>): Promise<T | undefined> {
    try {
      return await work();
    } catch (error) {
      this.notify(error instanceof Error ? error.message : String(error));
      return undefined;
    }
  }
}
