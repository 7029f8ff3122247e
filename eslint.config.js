// Lint rules, including the process-layer rules of STYLE.md: the pure and engine layers never
// touch Electron, the renderer never touches Node, and layers only point down.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const noElectron = {
  paths: [{ name: 'electron', message: 'This layer runs outside Electron; keep electron in src-main/app.' }],
  patterns: [{ group: ['electron/*'], message: 'This layer runs outside Electron.' }],
};

// Layers point down: the engine and the data layer serve the app layers above them (inspection,
// jobs, api, cli, app) and never import them; what both need lives in engine/ or shared/.
const noAppLayers = {
  group: ['**/inspection/**', '**/jobs/**', '**/api/**', '**/cli/**', '**/app/**'],
  message: 'engine/ and data/ sit below the app layers; move what both need down (engine/ or shared/).',
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'out/', 'release/', 'docs/', 'coverage/', '.tmp/', '**/.tmp-*', '**/*.svelte'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: 'readonly', process: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src-main/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: noElectron.paths, patterns: [...noElectron.patterns, noAppLayers] },
      ],
    },
  },
  {
    files: ['src-main/data/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            noAppLayers,
            { group: ['**/engine/**'], message: 'The engine reads data/ (images, heatmaps), not the other way.' },
          ],
        },
      ],
    },
  },
  {
    files: ['src-main/store/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/engine/**'], message: 'The store keeps records; it never imports the engine.' },
          ],
        },
      ],
    },
  },
  {
    // dataSync()/arraySync() throw on the webgpu backend under Node; engine code reads tensors
    // with await data() / array() (src-main/engine/readback.ts).
    files: ['src-main/**/*.ts', 'bench/**/*.ts', 'test/**/*.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        ...['dataSync', 'arraySync', 'bufferSync'].map((property) => ({
          property,
          message: `${property}() throws on the webgpu backend in Node: use await ${property.replace('Sync', '')}().`,
        })),
      ],
    },
  },
  {
    // Kernel-by-kernel comparisons of wasm with cpu: they run on those two backends only, where
    // synchronous reads work.
    files: ['test/unit/engine/wasm-kernels.test.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    files: ['src-main/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: noElectron.paths,
          patterns: [
            ...noElectron.patterns,
            { group: ['node:*'], message: 'src-main/shared is pure TypeScript shared with the renderer.' },
            { group: ['@tensorflow/*'], message: 'src-main/shared is pure TypeScript shared with the renderer.' },
          ],
        },
      ],
    },
  },
  {
    files: ['src-renderer/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: noElectron.paths,
          patterns: [
            { group: ['node:*'], message: 'The renderer reaches the app only through the contract client.' },
            { group: ['electron/*', '@tensorflow/*', 'better-sqlite3', 'sharp'], message: 'The renderer reaches the app only through the contract client.' },
          ],
        },
      ],
    },
  },
);
