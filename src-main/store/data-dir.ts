// Where DefectScope keeps its database, models, thumbnails and heatmaps: --data-dir, else
// DEFECTSCOPE_DATA, else the OS's application-data folder (the same one Electron's
// app.getPath('userData') uses, so the CLI and the desktop app share one store).
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const APP_NAME = 'DefectScope';

export function defaultDataDir(
  platform: NodeJS.Platform = process.platform,
  env = process.env,
): string {
  if (platform === 'win32')
    return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), APP_NAME);
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', APP_NAME);
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), APP_NAME);
}

export function resolveDataDir(explicit?: string, env = process.env): string {
  const chosen = explicit ?? env.DEFECTSCOPE_DATA;
  return chosen ? resolve(chosen) : defaultDataDir(process.platform, env);
}

/** The fixed layout inside a data folder. */
export function dataPaths(dataDir: string) {
  return {
    root: dataDir,
    database: join(dataDir, 'defectscope.db'),
    models: join(dataDir, 'models'),
    thumbnails: join(dataDir, 'cache', 'thumbnails'),
    heatmaps: join(dataDir, 'cache', 'heatmaps'),
  };
}
