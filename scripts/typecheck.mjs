// Type-checks the Node side and the tests (tsconfig.node.json). Electron is an optional
// dependency: offline, a plain `npm ci` drops it when its binary download fails, and with it the
// types the desktop window code (src-main/app) is written against. Then the rest is still checked,
// and this says what was left out and how to get it; CI installs electron and checks everything.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let project = 'tsconfig.node.json';
try {
  require.resolve('electron/package.json');
} catch {
  project = 'tsconfig.no-electron.json';
  console.warn(
    'typecheck: electron is not installed, so src-main/app (the desktop window) is not ' +
      'type-checked. Install it offline with ELECTRON_SKIP_BINARY_DOWNLOAD=1 npm ci.',
  );
}
const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', project], {
  stdio: 'inherit',
});
process.exit(tsc.status ?? 1);
