// The one way the renderer reaches the app: typed calls and events of the contract. Electron's
// preload (IPC) and the headless server (HTTP + server-sent events) both implement it; managers
// receive one and never know which.
import type {
  CallAnswer,
  CallArgs,
  CallName,
  CallResult,
  EventName,
  Events,
} from '../../../src-main/shared/contract.js';
import { fromWireError } from '../../../src-main/shared/errors.js';

export interface ContractClient {
  invoke<K extends CallName>(name: K, args: CallArgs<K>): Promise<CallResult<K>>;
  /** Returns the unsubscribe function. */
  on<E extends EventName>(name: E, listener: (payload: Events[E]) => void): () => void;
  /** An address the page can load an image file from (thumbnail, heatmap, original). */
  fileUrl(path: string): string;
  /** Called when the event stream came back after a break: lists may have missed changes. */
  onReconnect(listener: () => void): () => void;
}

/** What Electron's preload puts on `window.defectscope`: exactly invoke and on. */
export interface PreloadApi {
  invoke(name: string, args: unknown): Promise<CallAnswer>;
  on(name: string, listener: (payload: unknown) => void): () => void;
}

/** Turns a wire answer into the value, or throws the typed error it carries. */
export function unwrap<T>(answer: CallAnswer): T {
  if (answer.ok) return answer.value as T;
  throw fromWireError(answer.error);
}
