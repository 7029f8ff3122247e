// The contract over HTTP for a browser: calls are POSTs to /rpc/<name>, events arrive on one
// EventSource. The access token travels in the cookie the server set on the first page load.
import type { CallAnswer, EventName } from '../../../src-main/shared/contract.js';
import { unwrap, type ContractClient } from './client.js';

export function createHttpClient(base = ''): ContractClient {
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  const reconnectListeners = new Set<() => void>();
  let source: EventSource | null = null;
  let hadError = false;

  const connect = (name: string) => {
    if (!source) {
      source = new EventSource(`${base}/events`);
      source.addEventListener('open', () => {
        if (hadError) reconnectListeners.forEach((listener) => listener());
        hadError = false;
      });
      source.addEventListener('error', () => (hadError = true));
    }
    if (!listeners.has(name)) {
      listeners.set(name, new Set());
      source.addEventListener(name, (event) => {
        const payload: unknown = JSON.parse((event as MessageEvent<string>).data);
        listeners.get(name)?.forEach((listener) => listener(payload));
      });
    }
  };

  return {
    async invoke(name, args) {
      const response = await fetch(`${base}/rpc/${name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        credentials: 'same-origin',
        body: JSON.stringify(args),
      });
      if (response.status === 401) {
        throw new Error(
          'The access token was not accepted. Open the address `defectscope serve` printed.',
        );
      }
      return unwrap((await response.json()) as CallAnswer);
    },
    on(name: EventName, listener) {
      connect(name);
      const set = listeners.get(name)!;
      const wrapped = listener as (payload: unknown) => void;
      set.add(wrapped);
      return () => set.delete(wrapped);
    },
    fileUrl: (path) => `${base}/files?path=${encodeURIComponent(path)}`,
    onReconnect(listener) {
      reconnectListeners.add(listener);
      return () => reconnectListeners.delete(listener);
    },
  };
}
