// The backend cascade as `defectscope info` reports it, each in a fresh process (a process picks
// its backend once): every backend tried in order with the reason it was skipped, the GPU
// adapter Dawn found, and a clear failure when webgpu is forced where there is no GPU.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backendOrder, type BackendReport } from '../../src-main/engine/backend.js';
import { tempDir } from '../fixtures/images.js';

const root = join(import.meta.dirname, '..', '..');

function info(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(root, 'bin', 'defectscope.js'), 'info', '--data-dir', tempDir(), ...args],
      { env: { ...process.env, DEFECTSCOPE_BACKEND: '', ...env }, timeout: 120_000 },
      (error, out, err) =>
        resolve({ code: error ? ((error.code as number | undefined) ?? 1) : 0, out, err }),
    );
  });
}

// The automatic choice on this machine; the tests below depend on what it found.
const auto = await info(['--json']);
const chosen =
  auto.code === 0 ? (JSON.parse(auto.out) as { backend: BackendReport }).backend : null;
const adapter = chosen?.gpuAdapter;
const noAdapter = chosen?.attempts.find((a) => a.name === 'webgpu' && !a.ok)?.reason;

describe('backend cascade', () => {
  it('tries the backends in order and says why it skipped each', () => {
    expect(auto.code, auto.err).toBe(0);
    const backend = chosen!;
    const tried = backend.attempts.map((a) => a.name);
    expect(tried).toEqual(backendOrder.slice(0, tried.length));
    expect(tried.at(-1)).toBe(backend.name);
    for (const attempt of backend.attempts.slice(0, -1)) {
      expect(attempt.ok).toBe(false);
      expect(attempt.reason.length, attempt.name).toBeGreaterThan(10);
    }
    // Automatic choice never settles on a GPU emulated on the CPU: wasm is faster.
    const webgpu = backend.attempts.find((a) => a.name === 'webgpu');
    if (backend.gpuAdapter?.software) {
      expect(webgpu).toMatchObject({
        ok: false,
        reason: expect.stringMatching(/software adapter/),
      });
    }
    if (backend.name === 'webgpu') expect(backend.gpuAdapter?.software).toBe(false);
    if (backend.gpuAdapter) {
      expect(backend.gpuAdapter.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
      expect(backend.gpuAdapter.limits.maxBufferSize).toBeGreaterThan(0);
    }
  });

  it.runIf(process.platform === 'linux')(
    'fails with the reason when webgpu is forced and no GPU driver is there',
    async () => {
      // The Vulkan loader reads its driver list from these; a missing file means no driver.
      const missing = join(tempDir(), 'no-driver.json');
      const { code, out, err } = await info(['--backend', 'webgpu'], {
        VK_ICD_FILENAMES: missing,
        VK_DRIVER_FILES: missing,
      });
      expect(code).not.toBe(0);
      expect(out).toBe('');
      expect(err).toMatch(
        /The webgpu backend is not available here \(webgpu: no GPU adapter: Dawn found no Vulkan GPU/,
      );
    },
  );

  it.skipIf(!adapter)(
    'shows the adapter and its limits, and uses a software one only when forced' +
      (adapter ? '' : ` — skipped: ${noAdapter ?? 'no webgpu attempt'}`),
    async () => {
      const forced = await info(['--backend', 'webgpu']);
      expect(forced.code).toBe(0);
      expect(forced.out).toContain(`GPU adapter:    ${adapter!.vendor} ${adapter!.device}`);
      expect(forced.out).toMatch(/largest buffer [\d.]+ [KMGT]iB, largest storage binding/);
      expect(forced.out).toMatch(/Engine backend: webgpu/);
      if (adapter!.software) expect(forced.out).toMatch(/used only because it was asked for/);
    },
  );
});
