// The renderer's only door into the app: `window.defectscope.invoke` and `.on`, for contract names
// only. Nothing else of Node or Electron is exposed. Built to CommonJS (sandboxed preloads are).
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import type { CallAnswer } from '../shared/contract.js';
import { callArgs } from '../shared/schemas.js';
import { EVENT_CHANNEL, INVOKE_CHANNEL, eventNames } from './channels.js';

const knownEvents = new Set<string>(eventNames);

contextBridge.exposeInMainWorld('defectscope', {
  invoke(name: string, args: unknown): Promise<CallAnswer> {
    if (!Object.hasOwn(callArgs, name)) {
      return Promise.resolve({
        ok: false,
        error: { code: 'bad-argument', message: `There is no call '${name}'.` },
      });
    }
    return ipcRenderer.invoke(INVOKE_CHANNEL, name, args) as Promise<CallAnswer>;
  },
  on(name: string, listener: (payload: unknown) => void): () => void {
    if (!knownEvents.has(name)) throw new Error(`There is no event '${name}'.`);
    const relay = (_event: IpcRendererEvent, eventName: string, payload: unknown) => {
      if (eventName === name) listener(payload);
    };
    ipcRenderer.on(EVENT_CHANNEL, relay);
    return () => ipcRenderer.removeListener(EVENT_CHANNEL, relay);
  },
});
