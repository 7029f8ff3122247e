// The messages between the main side (the owner) and the engine host process. Plain data only:
// both transports (child_process IPC, Electron's utilityProcess) copy it by structured clone.
import type { WireError } from '../shared/errors.js';

export type OwnerMessage =
  { type: 'run'; id: number; task: string; args: unknown } | { type: 'cancel'; id: number };

export type HostMessage =
  /** The host listens; nothing is sent to it before this arrives. */
  | { type: 'ready'; pid: number }
  | { type: 'progress'; id: number; done: number; total: number; message: string | null }
  | { type: 'log'; id: number; line: string }
  | { type: 'result'; id: number; ok: true; value: unknown }
  | { type: 'result'; id: number; ok: false; error: WireError };

const hostTypes = new Set(['ready', 'progress', 'log', 'result']);

export function isHostMessage(message: unknown): message is HostMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    hostTypes.has((message as { type?: unknown }).type as string)
  );
}

export function isOwnerMessage(message: unknown): message is OwnerMessage {
  if (typeof message !== 'object' || message === null) return false;
  const { type, id } = message as { type?: unknown; id?: unknown };
  return (type === 'run' || type === 'cancel') && typeof id === 'number';
}
