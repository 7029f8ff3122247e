// `defectscope serve`: the desktop app's contract and user interface over HTTP on 127.0.0.1, for
// a browser where Electron cannot run (and for the end-to-end tests). Runs until interrupted.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from './command.js';
import { dataDirHelp, dataDirOption, intOption, stringOption } from './common.js';
import { resumeInterruptedInspections } from '../api/handlers/inspection.js';
import { openServices } from '../api/services.js';
import { startHttpBridge } from '../api/http-bridge.js';

/** The package's own folder, found upward from this file (it runs from src-main or dist). */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const { name } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string };
    if (name === 'defectscope') return dir;
  }
  return process.cwd();
}

export const command: Command = {
  name: 'serve',
  summary: 'serve the app to a browser on this machine (127.0.0.1, with an access token)',
  help: [
    'Usage: defectscope serve [--port N] [--data-dir DIR]',
    '',
    'Starts the headless server and prints the address to open; the address carries a random',
    'access token made at each start, so only someone who sees it can use the app. Ctrl+C stops it.',
    '',
    'Options:',
    '  --port N         port on 127.0.0.1 (default: a free one)',
    '  --renderer DIR   the built user interface (default: dist/renderer of this package)',
    dataDirHelp,
  ].join('\n'),
  options: { ...dataDirOption, port: { type: 'string' }, renderer: { type: 'string' } },
  async run(args, ctx) {
    const port = intOption(args, 'port', 0, 0);
    const rendererDir = resolve(
      stringOption(args, 'renderer') ?? join(packageRoot(), 'dist', 'renderer'),
    );
    const dataDir = stringOption(args, 'data-dir');
    const services = openServices(dataDir ? { dataDir } : {});
    const bridge = await startHttpBridge({ services, rendererDir, port });
    if (!existsSync(join(rendererDir, 'index.html'))) {
      ctx.err(`The user interface is not built in ${rendererDir}; run \`npm run build:renderer\`.`);
    }
    ctx.err(`Data folder: ${services.ctx.store.paths.root}`);
    // A server that stopped mid-inspection picks it up where it left off.
    for (const jobId of resumeInterruptedInspections(services.ctx))
      ctx.err(`Resumed inspection job ${jobId}.`);
    ctx.out(`DefectScope is serving on ${bridge.url}`);
    const signal = await new Promise<NodeJS.Signals>((done) => {
      process.once('SIGINT', () => done('SIGINT'));
      process.once('SIGTERM', () => done('SIGTERM'));
    });
    ctx.err(`Stopping (${signal}).`);
    await bridge.close();
    await services.close();
    return 0;
  },
};
