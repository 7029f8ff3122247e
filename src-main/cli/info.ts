// `defectscope info`: where the data lives, the schema version, and which TF.js backend the
// engine would use and why.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Command } from './command.js';
import { closing, dataHelp, dataOptions, openStoreFor, stringOption } from './common.js';
import { initBackend } from '../engine/backend.js';
import { formatBytes } from '../shared/bytes.js';

const require = createRequire(import.meta.url);

/** The installed version of a package, found from its entry point (some hide package.json). */
function versionOf(pkg: string): string | null {
  let dir: string;
  try {
    dir = dirname(require.resolve(pkg));
  } catch {
    return null;
  }
  for (; dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const { name, version } = JSON.parse(readFileSync(manifest, 'utf8')) as {
      name?: string;
      version?: string;
    };
    if (name === pkg) return version ?? null;
  }
  return null;
}

export const command: Command = {
  name: 'info',
  summary: 'show the data folder, schema version and the TF.js backend in use',
  help: [
    'Usage: defectscope info [--backend NAME] [--json]',
    '',
    'Options:',
    '  --backend NAME   check a specific backend: gpu, webgpu, node, wasm or cpu (default: $DEFECTSCOPE_BACKEND, else the fastest installed)',
    dataHelp,
  ].join('\n'),
  options: { ...dataOptions, backend: { type: 'string' } },
  async run(args, ctx) {
    const data = await closing(openStoreFor(args), (store) => ({
      folder: store.paths.root,
      database: store.paths.database,
      schemaVersion: store.schemaVersion,
    }));
    const backend = await initBackend(stringOption(args, 'backend'));
    const versions = Object.fromEntries(
      [
        '@tensorflow/tfjs',
        '@tensorflow/tfjs-backend-wasm',
        '@tensorflow/tfjs-backend-webgpu',
        'webgpu',
        '@tensorflow/tfjs-node',
        '@tensorflow/tfjs-node-gpu',
        'better-sqlite3',
        'sharp',
        'electron',
      ].map((pkg) => [pkg, versionOf(pkg)]),
    );
    const info = {
      version: (require('../../package.json') as { version: string }).version,
      node: process.versions.node,
      data,
      backend,
      packages: versions,
    };
    if (args.values.json) {
      ctx.out(JSON.stringify(info, null, 2));
      return 0;
    }
    ctx.out(`DefectScope ${info.version} on Node ${info.node}`);
    ctx.out(`Data folder:    ${data.folder} (schema version ${data.schemaVersion})`);
    ctx.out(
      `Engine backend: ${backend.name} — ${backend.label}${backend.threads ? `, ${backend.threads} thread(s)` : ''}`,
    );
    for (const attempt of backend.attempts) {
      ctx.out(`  ${attempt.ok ? 'using  ' : 'skipped'} ${attempt.name}: ${attempt.reason}`);
    }
    const gpu = backend.gpuAdapter;
    if (gpu) {
      ctx.out(
        `GPU adapter:    ${gpu.vendor} ${gpu.device} (architecture ${gpu.architecture || 'not reported'}` +
          `${gpu.software ? '; a software fallback' : ''}) — ${gpu.description}`,
      );
      ctx.out(
        `  largest buffer ${formatBytes(gpu.limits.maxBufferSize)}, ` +
          `largest storage binding ${formatBytes(gpu.limits.maxStorageBufferBindingSize)}`,
      );
    }
    ctx.out('Packages:');
    for (const [pkg, version] of Object.entries(versions))
      ctx.out(`  ${pkg.padEnd(32)} ${version ?? 'not installed'}`);
    return 0;
  },
};
