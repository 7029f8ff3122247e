// The engine host as an Electron utility process: the same EngineTransport the CLI gets from
// child_process.fork, so the engine client cannot tell them apart.
import { utilityProcess } from 'electron';
import { fileURLToPath } from 'node:url';
import type { EngineLauncher, HostExit } from '../jobs/engine-client.js';

const hostEntry = fileURLToPath(new URL('../engine/host.js', import.meta.url));

export const utilityEngineHost: EngineLauncher = ({ env }) => {
  const child = utilityProcess.fork(hostEntry, [], {
    serviceName: 'DefectScope engine',
    stdio: 'pipe',
    env: { ...process.env, ...env },
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
