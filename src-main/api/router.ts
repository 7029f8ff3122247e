// The typed router: checks a call's name and arguments against the contract, runs its handler,
// and answers with the value or a typed error. The IPC bridge, the HTTP bridge and the CLI all
// call through it, so every caller gets the same checks.
import { z } from 'zod';
import type { CallAnswer, CallArgs, CallName, CallResult } from '../shared/contract.js';
import { BadArgumentError, toWireError } from '../shared/errors.js';
import { callArgs } from '../shared/schemas.js';
import type { HandlerContext, Handlers } from './context.js';
import { allHandlers } from './handlers/index.js';

export interface Router {
  /** A typed call from inside the main side. */
  invoke<K extends CallName>(name: K, args: CallArgs<K>): Promise<CallResult<K>>;
  /** A call off the wire: unknown name and arguments, checked here. Throws typed errors. */
  dispatch(name: string, args: unknown): Promise<unknown>;
  /** Like dispatch, but never throws: the answer as it crosses the boundary. */
  answer(name: string, args: unknown): Promise<CallAnswer>;
}

function isCallName(name: string): name is CallName {
  return Object.hasOwn(callArgs, name);
}

export function createRouter(ctx: HandlerContext, handlers: Handlers = allHandlers): Router {
  const dispatch = async (name: string, args: unknown): Promise<unknown> => {
    if (!isCallName(name)) throw new BadArgumentError(`There is no call '${name}'.`);
    const parsed = callArgs[name].safeParse(args ?? {});
    if (!parsed.success) {
      throw new BadArgumentError(`${name}: ${z.prettifyError(parsed.error)}`);
    }
    const handler = handlers[name] as (args: unknown, ctx: HandlerContext) => Promise<unknown>;
    return handler(parsed.data, ctx);
  };
  return {
    invoke: (name, args) => dispatch(name, args) as Promise<CallResult<typeof name>>,
    dispatch,
    async answer(name, args) {
      try {
        return { ok: true, value: await dispatch(name, args) };
      } catch (error) {
        return { ok: false, error: toWireError(error) };
      }
    },
  };
}
