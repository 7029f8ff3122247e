// Builds the Node side for the desktop app into dist/main: every src-main module transpiled one
// to one (same folders, so relative paths and lazy imports keep working), the preload bundled to
// CommonJS (sandboxed preloads cannot import), and the files the engine loads at run time.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const out = 'dist/main';
rmSync(out, { recursive: true, force: true });

await build({
  entryPoints: readdirSync('src-main', { recursive: true })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => `src-main/${file}`),
  outbase: 'src-main',
  outdir: out,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
});

await build({
  entryPoints: ['src-main/app/preload.ts'],
  outfile: `${out}/app/preload.cjs`,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: ['electron'],
  logLevel: 'warning',
});

mkdirSync(`${out}/engine`, { recursive: true });
copyFileSync('src-main/engine/decode-worker.js', `${out}/engine/decode-worker.js`);

// Modules that read ../../../package.json from src-main/<a>/<b>/ land one folder deeper under
// dist/main; give them the version there (no name, so nothing mistakes dist/ for the package).
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
writeFileSync('dist/package.json', JSON.stringify({ type: 'module', version }, null, 2) + '\n');
console.log(`built ${out}`);
