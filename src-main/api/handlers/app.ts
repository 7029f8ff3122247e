// app/info: the version, where the data lives, and what the engine runs on (asked of the host).
import { createRequire } from 'node:module';
import type { Handlers } from '../context.js';

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };

export const appHandlers = {
  'app/info': async (_args, ctx) => {
    // Only the host knows its backend; asking starts it if none runs, which also proves it can.
    const engine = await ctx.engine.run('engine-info', {});
    return {
      version,
      node: process.versions.node,
      data: {
        folder: ctx.store.paths.root,
        database: ctx.store.paths.database,
        schemaVersion: ctx.store.schemaVersion,
      },
      engine,
    };
  },
} satisfies Partial<Handlers>;
