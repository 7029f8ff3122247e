// The engine host: the process where all TF.js and image decoding happen, so training never
// freezes the app. It runs tasks from the task table (./tasks/index.ts) on the owner's request,
// reports their progress, and stops one when the owner cancels it. Start it through
// src-main/jobs/engine-client.ts (child_process.fork, or Electron's utilityProcess).
import { z } from 'zod';
import { BadArgumentError, DefectScopeError, errorMessage, toWireError } from '../shared/errors.js';
import { isOwnerMessage, type HostMessage, type OwnerMessage } from './host-protocol.js';
import type { TaskContext } from './tasks/args.js';
import { engineTasks, isEngineTaskName } from './tasks/index.js';

/** The owner's end of the channel, whichever way this process was started. */
interface OwnerPort {
  send(message: HostMessage): void;
  onMessage(listener: (message: unknown) => void): void;
  onGone(listener: () => void): void;
}

/** Electron gives utility processes `process.parentPort`; typed here so electron stays out. */
interface ElectronParentPort {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (event: { data: unknown }) => void): void;
}

/** Progress goes to the owner at most this often; a task may report every image. */
const PROGRESS_INTERVAL_MS = 100;

function connectToOwner(): OwnerPort {
  const parentPort = (process as { parentPort?: ElectronParentPort }).parentPort;
  if (parentPort) {
    return {
      send: (message) => parentPort.postMessage(message),
      onMessage: (listener) => parentPort.on('message', (event) => listener(event.data)),
      // Electron ends utility processes with their parent.
      onGone: () => {},
    };
  }
  if (process.send) {
    return {
      send: (message) => process.send!(message),
      onMessage: (listener) => process.on('message', listener),
      onGone: (listener) => process.on('disconnect', listener),
    };
  }
  throw new Error(
    'The engine host runs as a child process of DefectScope; start the app or the CLI instead.',
  );
}

const port = connectToOwner();
const running = new Map<number, AbortController>();

function send(message: HostMessage): void {
  try {
    port.send(message);
  } catch (error) {
    // A result that cannot be copied (a function, a class with native state) is a bug in its task.
    if (message.type === 'result' && message.ok) {
      port.send({
        type: 'result',
        id: message.id,
        ok: false,
        error: { code: 'internal', message: `Task result cannot be sent: ${errorMessage(error)}` },
      });
    } else {
      throw error;
    }
  }
}

async function runTask(message: Extract<OwnerMessage, { type: 'run' }>): Promise<void> {
  const { id, task } = message;
  const controller = new AbortController();
  running.set(id, controller);
  try {
    if (!isEngineTaskName(task)) throw new BadArgumentError(`The engine has no task '${task}'.`);
    const entry = engineTasks[task];
    const parsed = entry.args.safeParse(message.args);
    if (!parsed.success) {
      throw new BadArgumentError(`Engine task ${task}: ${z.prettifyError(parsed.error)}`);
    }
    const run = (await entry.load()) as (args: unknown, ctx: TaskContext) => Promise<unknown>;
    let lastProgress = -Infinity;
    const ctx: TaskContext = {
      signal: controller.signal,
      progress(done, total, text) {
        const now = performance.now();
        if (total === 0 || done >= total || now - lastProgress >= PROGRESS_INTERVAL_MS) {
          lastProgress = now;
          send({ type: 'progress', id, done, total, message: text ?? null });
        }
      },
      log: (line) => send({ type: 'log', id, line }),
    };
    const value = await run(parsed.data, ctx);
    send({ type: 'result', id, ok: true, value });
  } catch (error) {
    // The owner gets the typed error; a bug's stack goes to stderr, which the owner keeps.
    if (!(error instanceof DefectScopeError)) console.error(error);
    send({ type: 'result', id, ok: false, error: toWireError(error) });
  } finally {
    running.delete(id);
  }
}

port.onMessage((message) => {
  if (!isOwnerMessage(message)) return;
  if (message.type === 'run') void runTask(message);
  else running.get(message.id)?.abort();
});
// Nobody is left to report to: stop rather than train for no one.
port.onGone(() => process.exit(0));
process.title = 'defectscope-engine';
send({ type: 'ready', pid: process.pid });
