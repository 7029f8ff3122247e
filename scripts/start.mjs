// `npm start`: builds the app, then opens the Electron window when Electron's binary works here;
// otherwise (no binary: an offline install, a machine without a display) starts the headless
// server and prints the address to open in a browser.
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const passthrough = process.argv.slice(2);

function run(command, args) {
  const result = spawnSync(command, args, {
    stdio: 'inherit',
    shell: process.platform === 'win32',
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

/** The Electron binary, if it is installed and starts. */
function electronBinary() {
  let binary;
  try {
    binary = require('electron'); // the package exports the binary's path, or throws without it
  } catch {
    return null;
  }
  const probe = spawnSync(binary, ['--version'], {
    timeout: 20_000,
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
  });
  return probe.status === 0 ? binary : null;
}

run('npm', ['run', '--silent', 'build:renderer']);
const electron = electronBinary();
if (
  electron &&
  (process.platform !== 'linux' || process.env.DISPLAY || process.env.WAYLAND_DISPLAY)
) {
  run('npm', ['run', '--silent', 'build:main']);
  const child = spawn(electron, ['.', ...passthrough], { stdio: 'inherit' });
  child.on('exit', (code) => process.exit(code ?? 0));
} else {
  console.error(
    electron
      ? 'No display found; starting the headless server instead of the window.'
      : 'Electron is not installed here; starting the headless server instead of the window.',
  );
  const child = spawn(process.execPath, ['bin/defectscope.js', 'serve', ...passthrough], {
    stdio: 'inherit',
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code) => process.exit(code ?? 0));
}
