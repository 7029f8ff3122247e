// Loading TF.js's WebGPU backend under Node: Dawn (npm `webgpu`, prebuilt dawn.node for Linux,
// Windows and macOS inside the npm tarball) finds a Vulkan / D3D12 / Metal adapter; we decide
// whether to use it and register tfjs-backend-webgpu on that adapter. Used only through backend.ts.
//
// Why not simply import '@tensorflow/tfjs-backend-webgpu': it registers itself only if
// navigator.gpu exists when it is imported, and then asks for an adapter of its own. We ask
// first, so that the adapter we report (and judged not to be a software fallback) is the one the
// backend computes on.
import * as tf from '@tensorflow/tfjs';
import type { GpuAdapterDto } from '../shared/dto.js';
import { BackendError, errorMessage } from '../shared/errors.js';

/** A GPU adapter Dawn found, as info and the Settings view show it (one shape, the DTO's). */
export type GpuAdapterReport = GpuAdapterDto;

// The slice of the WebGPU API used here (the project does not load @webgpu/types globally).
interface GpuAdapterInfo {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}
interface GpuAdapter {
  info?: GpuAdapterInfo;
  /** Older spelling of info.isFallbackAdapter. */
  isFallbackAdapter?: boolean;
  features: ReadonlySet<string>;
  limits: Record<string, number>;
  requestDevice(descriptor: {
    requiredFeatures: string[];
    requiredLimits: Record<string, number>;
  }): Promise<unknown>;
}
interface Gpu {
  requestAdapter(options: { powerPreference: 'high-performance' }): Promise<GpuAdapter | null>;
}
interface DawnModule {
  create(flags: string[]): Gpu;
  globals: Record<string, unknown>;
}

let found:
  | Promise<{ dawn: DawnModule; gpu: Gpu; adapter: GpuAdapter; report: GpuAdapterReport }>
  | undefined;
let registered = false;

/**
 * The adapter Dawn offers for high-performance work, described; throws BackendError when Dawn
 * does not load or finds no adapter. Asked once per process.
 */
export async function findGpuAdapter(): Promise<GpuAdapterReport> {
  // A failure is kept too: the engine reports it, and Dawn need not enumerate the GPUs again.
  found ??= requestAdapter();
  return (await found).report;
}

async function requestAdapter() {
  let dawn: DawnModule;
  try {
    dawn = (await import('webgpu')) as unknown as DawnModule;
  } catch (error) {
    throw new BackendError(
      `Dawn (npm webgpu) did not load on ${process.platform}-${process.arch}: ${errorMessage(error).split('\n')[0]}`,
      { cause: error },
    );
  }
  const gpu = dawn.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new BackendError(`no GPU adapter: ${noAdapterHint()}`);
  const info = adapter.info ?? {};
  return {
    dawn,
    gpu,
    adapter,
    report: {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
      software: info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false,
      limits: {
        maxBufferSize: adapter.limits.maxBufferSize ?? 0,
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize ?? 0,
      },
    },
  };
}

function noAdapterHint(): string {
  switch (process.platform) {
    case 'linux':
      return "Dawn found no Vulkan GPU (install the GPU's Vulkan driver; Debian 12's Mesa 22 is too old for Dawn)";
    case 'win32':
      return 'Dawn found no Direct3D 12 GPU (update the graphics driver)';
    case 'darwin':
      return 'Dawn found no Metal GPU';
    default:
      return `Dawn has no GPU support on ${process.platform}`;
  }
}

/**
 * tfjs-backend-webgpu expects a browser: the WebGPU constants (GPUBufferUsage, GPUMapMode, …) as
 * globals and navigator.gpu. Node 21+ (and Electron) have a navigator without gpu; Node 20 none.
 */
function installGlobals(globals: Record<string, unknown>, gpu: Gpu): void {
  for (const [name, value] of Object.entries(globals)) {
    if (!(name in globalThis))
      Object.defineProperty(globalThis, name, { value, configurable: true });
  }
  const scope = globalThis as { navigator?: object };
  if (scope.navigator) {
    Object.defineProperty(scope.navigator, 'gpu', { value: gpu, configurable: true });
  } else {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true });
  }
}

/**
 * Registers the 'webgpu' backend on the adapter findGpuAdapter found; call before
 * tf.setBackend('webgpu'). A software adapter is refused unless `allowSoftware` (an explicit
 * request): the wasm backend is faster than a GPU emulated on the same CPU.
 */
export async function prepareWebgpu(allowSoftware: boolean): Promise<GpuAdapterReport> {
  const report = await findGpuAdapter();
  if (report.software && !allowSoftware) {
    throw new BackendError(
      `only a software adapter (${report.description || report.device}), slower than wasm; --backend webgpu forces it`,
    );
  }
  if (registered) return report;
  const { dawn, gpu, adapter } = await found!;
  installGlobals(dawn.globals, gpu);
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  tf.removeBackend('webgpu');
  tf.registerBackend(
    'webgpu',
    async () => {
      // The features and limits tfjs-backend-webgpu's own factory asks for (4.22.0, base.ts).
      const requiredFeatures = ['timestamp-query'].filter((f) => adapter.features.has(f));
      const names = [
        'maxComputeWorkgroupStorageSize',
        'maxComputeWorkgroupsPerDimension',
        'maxStorageBufferBindingSize',
        'maxBufferSize',
        'maxComputeWorkgroupSizeX',
        'maxComputeInvocationsPerWorkgroup',
      ];
      const requiredLimits = Object.fromEntries(names.map((n) => [n, adapter.limits[n]!]));
      const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
      return new WebGPUBackend(
        device as ConstructorParameters<typeof WebGPUBackend>[0],
        adapter.info as ConstructorParameters<typeof WebGPUBackend>[1],
      );
    },
    3,
  );
  registered = true;
  return report;
}
