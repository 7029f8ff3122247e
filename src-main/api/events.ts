// The main side's event bus: jobs, inspections and settings push typed events here, and the IPC
// bridge, the HTTP bridge (server-sent events) and the CLI subscribe.
import type { EventName, Events } from '../shared/contract.js';

type Listener<E extends EventName> = (payload: Events[E]) => void;
type AnyListener = <E extends EventName>(name: E, payload: Events[E]) => void;

export class EventBus {
  private readonly listeners = new Map<EventName, Set<Listener<EventName>>>();
  private readonly anyListeners = new Set<AnyListener>();

  /** Returns the unsubscribe function. */
  on<E extends EventName>(name: E, listener: Listener<E>): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener as Listener<EventName>);
    return () => set.delete(listener as Listener<EventName>);
  }

  /** Every event, for bridges that forward them all. */
  onAny(listener: AnyListener): () => void {
    this.anyListeners.add(listener);
    return () => this.anyListeners.delete(listener);
  }

  /** Delivers synchronously; a listener that throws never stops the others or the emitter. */
  readonly emit = <E extends EventName>(name: E, payload: Events[E]): void => {
    for (const listener of this.listeners.get(name) ?? []) this.deliver(() => listener(payload));
    for (const listener of this.anyListeners) this.deliver(() => listener(name, payload));
  };

  private deliver(call: () => void): void {
    try {
      call();
    } catch (error) {
      console.error('An event listener failed:', error);
    }
  }
}
