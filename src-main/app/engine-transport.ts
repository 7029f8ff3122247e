// The engine host as an Electron utility process: the same EngineTransport the CLI gets from
// child_process.fork, so the engine client cannot tell them apart.
import { app, utilityProcess } from 'electron';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EngineLauncher, HostExit } from '../jobs/engine-client.js';

const hostEntry = fileURLToPath(new URL('../engine/host.js', import.meta.url));

/**
 * Installers carry the MobileNetV3 backbone under resources/models/backbone (electron-builder.yml
 * leaves the 166 MB npm package out); the engine is told where it is.
 */
function packagedEnv(): Record<string, string> {
  if (!app.isPackaged) return {};
  return {
    DEFECTSCOPE_BACKBONE: join(process.resourcesPath, 'models', 'backbone', 'centernet.json'),
  };
}

export const utilityEngineHost: EngineLauncher = ({ env }) => {
  const child = utilityProcess.fork(hostEntry, [], {
    serviceName: 'DefectScope engine',
    stdio: 'pipe',
    env: { ...process.env, ...packagedEnv(), ...env },
  });
  const exitListeners: ((exit: HostExit) => void)[] = [];
  const outputListeners: ((text: string) => void)[] = [];
  const output = (text: string) => outputListeners.forEach((listener) => listener(text));
  child.stdout?.on('data', (data: Buffer) => output(String(data)));
  child.stderr?.on('data', (data: Buffer) => output(String(data)));
  let ended = false;
  child.on('exit', (code) => {
    if (ended) return;
    ended = true;
    // A utility process reports only its exit code; a crash shows as a non-zero one.
    for (const listener of exitListeners) listener({ code, signal: null });
  });
  return {
    get pid() {
      return child.pid;
    },
    send: (message) => {
      if (!ended) child.postMessage(message);
    },
    onMessage: (listener) => child.on('message', listener),
    onExit: (listener) => exitListeners.push(listener),
    onOutput: (listener) => outputListeners.push(listener),
    // The host stops when it is told the owner is gone; a utility process has no disconnect.
    close: () => {
      if (!ended) child.kill();
    },
    kill: () => {
      if (!ended) child.kill();
    },
  };
};
