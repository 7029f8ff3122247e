// The contract over Electron IPC: the preload's invoke/on, typed. Image files load through the
// app's own `defectscope-file:` protocol, which main checks against the chosen folders.
import { unwrap, type ContractClient, type PreloadApi } from './client.js';

export const FILE_PROTOCOL = 'defectscope-file';

export function createIpcClient(api: PreloadApi): ContractClient {
  return {
    invoke: async (name, args) => unwrap(await api.invoke(name, args)),
    on: (name, listener) => api.on(name, listener as (payload: unknown) => void),
    fileUrl: (path) => `${FILE_PROTOCOL}://image/?path=${encodeURIComponent(path)}`,
    // IPC never drops events while the window lives.
    onReconnect: () => () => undefined,
  };
}
