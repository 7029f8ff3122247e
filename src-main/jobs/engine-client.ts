// The main side's handle on the engine host: starts the host process when work arrives, sends it
// tasks by name with typed arguments, relays progress, log lines and cancel, and notices when the
// host dies — every task it was running fails with the reason, and the next task starts a fresh
// host. The process itself comes from an EngineTransport: child_process.fork here (CLI, headless
// server); the Electron app passes one built on utilityProcess.
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Events } from '../shared/contract.js';
import { CancelledError, EngineError, fromWireError } from '../shared/errors.js';
import { isHostMessage, type OwnerMessage } from '../engine/host-protocol.js';
import type { EngineTaskName, TaskArgs, TaskResult } from '../engine/tasks/index.js';

export interface HostExit {
  code: number | null;
  signal: string | null;
}

/** One running host process, however it was started. */
export interface EngineTransport {
  readonly pid: number | undefined;
  send(message: OwnerMessage): void;
  onMessage(listener: (message: unknown) => void): void;
  /** Called once, after the process has ended and its output is drained. */
  onExit(listener: (exit: HostExit) => void): void;
  /** The host's stdout and stderr, kept to explain a crash. */
  onOutput(listener: (text: string) => void): void;
  /** Closes the channel; the host exits when it sees that. */
  close(): void;
  kill(signal?: NodeJS.Signals): void;
}

export type EngineLauncher = (options: { env: Record<string, string> }) => EngineTransport;

/** Starts src-main/engine/host with child_process.fork, through tsx when running from source. */
export const forkEngineHost: EngineLauncher = ({ env }) => {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = fileURLToPath(
    new URL(`../engine/host.${fromSource ? 'ts' : 'js'}`, import.meta.url),
  );
  // An absolute loader URL, so the host starts whatever the working directory is.
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const child = fork(entry, [], {
    execArgv: fromSource ? ['--import', tsx] : [],
    serialization: 'advanced',
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, ...env },
  });
  let ended = false;
  const exitListeners: ((exit: HostExit) => void)[] = [];
  const outputListeners: ((text: string) => void)[] = [];
  const output = (text: string) => outputListeners.forEach((listener) => listener(text));
  child.stdout?.on('data', (data) => output(String(data)));
  child.stderr?.on('data', (data) => output(String(data)));
  const end = (exit: HostExit) => {
    if (ended) return;
    ended = true;
    for (const listener of exitListeners) listener(exit);
  };
  // stderr holds the crash's words, so it is drained first — but only briefly: a grandchild
  // (tsx's esbuild service) may hold the pipe open, and 'close' would then never come.
  child.on('exit', (code, signal) => {
    const stderr = child.stderr;
    if (!stderr || stderr.readableEnded) return end({ code, signal });
    const timer = setTimeout(() => end({ code, signal }), 200);
    stderr.once('end', () => {
      clearTimeout(timer);
      end({ code, signal });
    });
  });
  child.on('error', (error) => {
    output(`${error.message}\n`);
    if (child.pid === undefined) end({ code: null, signal: null }); // it never started
  });
  return {
    get pid() {
      return child.pid;
    },
    send: (message) => {
      if (child.connected) child.send(message);
    },
    onMessage: (listener) => child.on('message', listener),
    onExit: (listener) => exitListeners.push(listener),
    onOutput: (listener) => outputListeners.push(listener),
    close: () => {
      if (child.connected) child.disconnect();
    },
    kill: (signal) => child.kill(signal),
  };
};

export interface RunOptions {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number, message: string | null) => void;
  onLog?: (line: string) => void;
}

export interface EngineClientOptions {
  launch?: EngineLauncher;
  /** Environment for the host (e.g. DEFECTSCOPE_BACKEND). */
  env?: Record<string, string>;
  onState?: (state: Events['engine/state']) => void;
  /** Every line the host prints (TF.js notices, stack traces of bugs). */
  onOutput?: (text: string) => void;
  /** A host that is not listening by then is killed and reported. */
  readyTimeoutMs?: number;
}

interface Pending {
  task: EngineTaskName;
  resolve(value: unknown): void;
  reject(error: Error): void;
  options: RunOptions;
  detach(): void;
}

interface Host {
  transport: EngineTransport;
  ready: Promise<void>;
  isReady: boolean;
  pending: Map<number, Pending>;
  /** The newest few kilobytes of the host's output. */
  output: string;
  /** Set when we ask it to end: its exit is then not a crash. */
  closing: boolean;
  /** Set when the next idle moment should restart it (new environment). */
  stale: boolean;
  failure: string | null;
  exited: Promise<HostExit>;
}

const OUTPUT_TAIL = 8 * 1024;

/** Why a host ended, in words an inspector can act on. */
export function describeExit(exit: HostExit, output: string): string {
  const outOfMemory = /out of memory|Allocation failed|std::bad_alloc/i.test(output);
  if (outOfMemory) return 'it ran out of memory (try a smaller batch or image size)';
  if (exit.signal === 'SIGKILL') {
    return 'it was killed (SIGKILL) — by the system when memory runs out, or by another program';
  }
  if (exit.signal) return `it was stopped by signal ${exit.signal}`;
  const lastLine = output
    .trim()
    .split('\n')
    .reverse()
    .find((line) => line.trim().length > 0);
  return `it exited with code ${exit.code ?? 'unknown'}${lastLine ? ` (${lastLine.trim().slice(0, 300)})` : ''}`;
}

export class EngineClient {
  private host: Host | undefined;
  private nextId = 1;
  private env: Record<string, string>;
  private readonly launch: EngineLauncher;
  private readonly readyTimeoutMs: number;

  constructor(private readonly options: EngineClientOptions = {}) {
    this.launch = options.launch ?? forkEngineHost;
    this.env = options.env ?? {};
    this.readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  }

  /** The host's process id, while one runs. */
  get pid(): number | null {
    return this.host?.transport.pid ?? null;
  }

  /** Tasks sent and not yet answered. */
  get busy(): number {
    return this.host?.pending.size ?? 0;
  }

  /**
   * Runs a task in the host, starting the host if none runs. Rejects with the task's own typed
   * error, a CancelledError after `signal` aborts, or an EngineError if the host dies.
   */
  run<N extends EngineTaskName>(
    task: N,
    args: TaskArgs<N>,
    options: RunOptions = {},
  ): Promise<TaskResult<N>> {
    if (options.signal?.aborted) return Promise.reject(new CancelledError());
    const host = this.host ?? this.start();
    const id = this.nextId++;
    return new Promise<TaskResult<N>>((resolve, reject) => {
      const cancel = () => {
        if (host.isReady) host.transport.send({ type: 'cancel', id });
      };
      options.signal?.addEventListener('abort', cancel, { once: true });
      host.pending.set(id, {
        task,
        resolve: resolve as (value: unknown) => void,
        reject,
        options,
        detach: () => options.signal?.removeEventListener('abort', cancel),
      });
      host.ready.then(
        () => {
          if (!host.pending.has(id)) return;
          host.transport.send({ type: 'run', id, task, args });
          if (options.signal?.aborted) cancel();
        },
        // A host that never got ready is killed; its exit rejects this task.
        () => {},
      );
    });
  }

  /** Tensors the host holds: engine tests and diagnostics check for leaks with it. */
  memory(): Promise<TaskResult<'memory'>> {
    return this.run('memory', {});
  }

  /**
   * New environment for the host (a backend chosen in the settings). A host that is idle
   * restarts at once; a busy one when its last task ends.
   */
  configure(env: Record<string, string>): void {
    this.env = env;
    if (!this.host) return;
    this.host.stale = true;
    if (this.host.pending.size === 0) this.stop(this.host);
  }

  /** Ends the host; tasks still running fail with an EngineError. */
  async close(timeoutMs = 5000): Promise<void> {
    const host = this.host;
    if (!host) return;
    this.stop(host);
    const timer = setTimeout(() => host.transport.kill('SIGKILL'), timeoutMs);
    try {
      await host.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  private stop(host: Host): void {
    host.closing = true;
    if (this.host === host) this.host = undefined;
    host.transport.close();
  }

  private start(): Host {
    const transport = this.launch({ env: this.env });
    let markReady!: () => void;
    let failReady!: (error: Error) => void;
    let markExited!: (exit: HostExit) => void;
    const host: Host = {
      transport,
      ready: new Promise<void>((resolve, reject) => {
        markReady = resolve;
        failReady = reject;
      }),
      isReady: false,
      pending: new Map(),
      output: '',
      closing: false,
      stale: false,
      failure: null,
      exited: new Promise<HostExit>((resolve) => (markExited = resolve)),
    };
    host.ready.catch(() => {});
    this.host = host;

    const readyTimer = setTimeout(() => {
      host.failure = `it did not start within ${Math.round(this.readyTimeoutMs / 1000)} s`;
      transport.kill('SIGKILL');
    }, this.readyTimeoutMs);

    transport.onOutput((text) => {
      host.output = (host.output + text).slice(-OUTPUT_TAIL);
      this.options.onOutput?.(text);
    });
    transport.onMessage((message) => {
      if (!isHostMessage(message)) return;
      if (message.type === 'ready') {
        clearTimeout(readyTimer);
        host.isReady = true;
        markReady();
        this.options.onState?.({ state: 'started', pid: message.pid, reason: null });
        return;
      }
      const pending = host.pending.get(message.id);
      if (!pending) return;
      switch (message.type) {
        case 'progress':
          pending.options.onProgress?.(message.done, message.total, message.message);
          break;
        case 'log':
          pending.options.onLog?.(message.line);
          break;
        case 'result':
          host.pending.delete(message.id);
          pending.detach();
          if (message.ok) pending.resolve(message.value);
          else pending.reject(fromWireError(message.error));
          if (host.stale && host.pending.size === 0) this.stop(host);
          break;
      }
    });
    transport.onExit((exit) => {
      clearTimeout(readyTimer);
      if (this.host === host) this.host = undefined;
      const reason = host.failure ?? describeExit(exit, host.output);
      const crashed = !host.closing;
      const error = (task: string) =>
        !host.isReady
          ? new EngineError(`The engine could not start: ${reason}.`, exit)
          : crashed
            ? new EngineError(
                `The engine process stopped while running ${task}: ${reason}. Work saved before that is kept; start it again.`,
                exit,
              )
            : new EngineError(`The engine was shut down before ${task} finished.`, exit);
      failReady(error('its first task'));
      for (const pending of host.pending.values()) {
        pending.detach();
        pending.reject(error(pending.task));
      }
      host.pending.clear();
      markExited(exit);
      this.options.onState?.({
        state: crashed ? 'crashed' : 'stopped',
        pid: transport.pid ?? null,
        reason: crashed ? reason : null,
      });
    });
    return host;
  }
}
