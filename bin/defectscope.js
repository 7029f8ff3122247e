#!/usr/bin/env node
// Entry point for `npx defectscope`: runs the TypeScript CLI through tsx, so a fresh
// `npm ci` is enough — no build step stands between install and use.
import { register } from 'tsx/esm/api';

register();
await import('../src-main/cli/main.ts');
