// The desktop build: `npm run build:main` writes the Electron entry the package names, a preload
// a sandboxed window can load (CommonJS, requiring nothing but electron), and the engine host.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const main = join(root, 'dist', 'main');

describe('desktop build', () => {
  beforeAll(() => {
    const built = spawnSync(process.execPath, ['scripts/build-main.mjs'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(built.status, built.stderr).toBe(0);
  });

  it('writes the main entry package.json names, and the engine host it forks', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { main: string };
    expect(existsSync(join(root, pkg.main))).toBe(true);
    expect(existsSync(join(main, 'engine', 'host.js'))).toBe(true);
    expect(existsSync(join(main, 'engine', 'decode-worker.js'))).toBe(true);
  });

  it('bundles the preload so a sandboxed window can load it', () => {
    const preload = readFileSync(join(main, 'app', 'preload.cjs'), 'utf8');
    const required = [...preload.matchAll(/require\(["']([^"']+)["']\)/g)].map((m) => m[1]);
    expect(new Set(required)).toEqual(new Set(['electron']));
    expect(preload).toContain('exposeInMainWorld');
  });

  it('keeps Node out of the window: isolation, sandbox, no node integration', () => {
    const windows = readFileSync(join(root, 'src-main', 'app', 'windows.ts'), 'utf8');
    expect(windows).toMatch(/contextIsolation: true/);
    expect(windows).toMatch(/sandbox: true/);
    expect(windows).toMatch(/nodeIntegration: false/);
  });
});
