// settings/get and settings/set. Stored values are checked against the schema when read, so a
// value from an older or newer DefectScope falls back to its default instead of breaking start-up.
import { userInfo } from 'node:os';
import { DEFAULT_UNSURE_BAND } from '../../engine/threshold.js';
import type { Settings } from '../../shared/dto.js';
import { settingsSchema } from '../../shared/schemas.js';
import type { SettingsRepo } from '../../store/repos/settings.repo.js';
import type { Handlers } from '../context.js';

function defaultInspector(): string {
  try {
    return userInfo().username || 'inspector';
  } catch {
    return 'inspector';
  }
}

export function defaultSettings(): Settings {
  return { inspector: defaultInspector(), backend: 'auto', unsureBand: DEFAULT_UNSURE_BAND };
}

export function readSettings(repo: SettingsRepo): Settings {
  const stored = repo.all();
  const settings = defaultSettings();
  for (const key of Object.keys(settings) as (keyof Settings)[]) {
    const parsed = settingsSchema.shape[key].safeParse(stored[key]);
    if (parsed.success) (settings as Record<keyof Settings, unknown>)[key] = parsed.data;
  }
  return settings;
}

/** The engine host's environment for a backend choice ('auto' leaves the choice to the host). */
export function engineEnv(settings: Settings): Record<string, string> {
  return settings.backend === 'auto' ? {} : { DEFECTSCOPE_BACKEND: settings.backend };
}

export const settingsHandlers = {
  'settings/get': async (_args, ctx) => readSettings(ctx.settings),
  'settings/set': async (changes, ctx) => {
    const before = readSettings(ctx.settings);
    ctx.settings.set(changes);
    const after = readSettings(ctx.settings);
    if (after.backend !== before.backend) ctx.engine.configure(engineEnv(after));
    ctx.events.emit('settings/changed', after);
    return after;
  },
} satisfies Partial<Handlers>;
