// The input gradient of a strided convolution as stride-1 convolutions, one per output phase
// (polyphase decomposition), shared by Conv2DBackpropInput and its depthwise twin.
//
// dx[p] = Σ_i dy[(p + pad − i·d) / s] · w[i] over the taps i where the division is exact. For the
// rows p ≡ r (mod s) those taps are i0, i0 + s, i0 + 2s, … — a fixed sub-filter — and the sum is a
// plain stride-1 correlation of dy with that sub-filter reversed. Each phase is one fast XNNPACK
// convolution; the phases are then copied into their rows and columns of dx. Compared with tfjs' stock
// Conv2DBackpropInput (a scalar loop) this measured ~4× faster at stride 2 and far more at stride 1.
import type * as tf from '@tensorflow/tfjs';
import { Scratch, heapF32, type TensorInfo, type WasmBackend } from './kernel-utils.js';

/** One axis of the forward convolution. */
export interface AxisGeometry {
  /** Input length (what dx has). */
  inSize: number;
  /** Output length (what dy has). */
  outSize: number;
  kernel: number;
  stride: number;
  dilation: number;
  /** Padding before the first input element in the forward pass. */
  padBefore: number;
}

/** Both axes of a forward convolution, as polyphaseInputGradient takes them. */
export function axesOf(info: tf.backend_util.Conv2DInfo): {
  height: AxisGeometry;
  width: AxisGeometry;
} {
  return {
    height: {
      inSize: info.inHeight,
      outSize: info.outHeight,
      kernel: info.filterHeight,
      stride: info.strideHeight,
      dilation: info.dilationHeight,
      padBefore: info.padInfo.top,
    },
    width: {
      inSize: info.inWidth,
      outSize: info.outWidth,
      kernel: info.filterWidth,
      stride: info.strideWidth,
      dilation: info.dilationWidth,
      padBefore: info.padInfo.left,
    },
  };
}

/** The stride-1 correlation that produces one phase along one axis. */
interface AxisPhase {
  /** First tap of the phase, and how many taps it has (0: the phase gets no gradient). */
  firstTap: number;
  taps: number;
  /** Padding for the stride-1 correlation; negative values are crops of dy. */
  padBefore: number;
  padAfter: number;
}

function axisPhases(g: AxisGeometry): { phases: AxisPhase[]; perPhase: number } {
  const { inSize, outSize, kernel, stride, dilation, padBefore } = g;
  if (stride > 1 && dilation > 1) {
    throw new Error(
      'Convolution gradients with both stride and dilation above 1 are not supported.',
    );
  }
  // Every phase computes the same number of rows; rows past inSize are cut off after interleaving.
  const perPhase = Math.ceil(inSize / stride);
  const phases: AxisPhase[] = [];
  for (let r = 0; r < stride; r++) {
    const firstTap = (((r + padBefore) % stride) + stride) % stride;
    const taps = firstTap < kernel ? Math.ceil((kernel - firstTap) / stride) : 0;
    // For row m of this phase, tap firstTap + k·stride reads dy row m + offset − k.
    const offset = (r + padBefore - firstTap * dilation) / stride;
    const before = (taps - 1) * dilation - offset;
    const after = perPhase + (taps - 1) * dilation - outSize - before;
    phases.push({ firstTap, taps, padBefore: before, padAfter: after });
  }
  return { phases, perPhase };
}

export interface PolyphaseRequest {
  backend: WasmBackend;
  /** dy [B, OH, OW, Cdy]. */
  dy: TensorInfo;
  /** The filter with taps on its two leading axes: [kh, kw, ...tapShape], one contiguous block a tap. */
  filter: TensorInfo;
  /** Elements per tap of `filter` (product of tapShape). */
  tapSize: number;
  height: AxisGeometry;
  width: AxisGeometry;
  batch: number;
  /** Channels of dx. */
  channels: number;
  /**
   * Runs the stride-1 correlation of (cropped) dy with a reversed sub-filter [taps_h, taps_w,
   * ...tapShape] and explicit padding; returns [B, perPhaseH, perPhaseW, channels].
   */
  correlate: (
    scratch: Scratch,
    dy: TensorInfo,
    subFilter: TensorInfo,
    pad: [[number, number], [number, number], [number, number], [number, number]],
    dilations: [number, number],
  ) => TensorInfo;
  /** Shape of one tap block, e.g. [Co, Ci] or [C, 1]. */
  tapShape: number[];
}

/** dx [B, H, W, channels] of a convolution, from dy and the (tap-major) filter. Caller owns it. */
export function polyphaseInputGradient(req: PolyphaseRequest): TensorInfo {
  const { backend, dy, filter, tapSize, height, width, batch, channels, tapShape } = req;
  const rows = axisPhases(height);
  const cols = axisPhases(width);
  const [, outH, outW, dyChannels] = dy.shape as [number, number, number, number];
  const single = height.stride === 1 && width.stride === 1;
  const scratch = new Scratch(backend);
  try {
    // Stride 1 has one phase, which is dx itself; otherwise each phase is copied into its rows
    // and columns of dx (a JS copy measured far faster than wasm's generic 6-D Transpose).
    const dx = single ? undefined : scratch.output([batch, height.inSize, width.inSize, channels]);
    if (dx && rows.phases.concat(cols.phases).some((p) => p.taps === 0)) {
      // A kernel smaller than the stride leaves some input positions without any gradient.
      heapF32(backend, dx).fill(0);
    }
    for (let ry = 0; ry < height.stride; ry++) {
      for (let rx = 0; rx < width.stride; rx++) {
        const ph = rows.phases[ry]!;
        const pw = cols.phases[rx]!;
        if (ph.taps === 0 || pw.taps === 0) continue;
        const sub = reversedSubFilter(
          scratch,
          backend,
          filter,
          tapSize,
          tapShape,
          height,
          width,
          ph,
          pw,
        );
        const cropTop = Math.max(-ph.padBefore, 0);
        const cropBottom = Math.max(-ph.padAfter, 0);
        const cropLeft = Math.max(-pw.padBefore, 0);
        const cropRight = Math.max(-pw.padAfter, 0);
        let input = dy;
        if (cropTop + cropBottom + cropLeft + cropRight > 0) {
          input = scratch.stock(
            'Slice',
            { x: dy },
            {
              begin: [0, cropTop, cropLeft, 0],
              size: [batch, outH - cropTop - cropBottom, outW - cropLeft - cropRight, dyChannels],
            },
          );
        }
        const phase = req.correlate(
          scratch,
          input,
          sub,
          [
            [0, 0],
            [Math.max(ph.padBefore, 0), Math.max(ph.padAfter, 0)],
            [Math.max(pw.padBefore, 0), Math.max(pw.padAfter, 0)],
            [0, 0],
          ],
          [height.stride === 1 ? height.dilation : 1, width.stride === 1 ? width.dilation : 1],
        );
        if (!dx) return scratch.release(phase);
        scatterPhase(
          backend,
          phase,
          dx,
          ry,
          rx,
          height,
          width,
          rows.perPhase,
          cols.perPhase,
          batch,
          channels,
        );
      }
    }
    return scratch.release(dx!);
  } finally {
    scratch.dispose();
  }
}

/** Copies phase (ry, rx) [B, Mh, Mw, C] into dx rows ry + sh·m and columns rx + sw·n. */
function scatterPhase(
  backend: WasmBackend,
  phase: TensorInfo,
  dx: TensorInfo,
  ry: number,
  rx: number,
  height: AxisGeometry,
  width: AxisGeometry,
  perPhaseH: number,
  perPhaseW: number,
  batch: number,
  channels: number,
): void {
  // Views fetched only now: the allocations before may have grown (moved) the heap.
  const src = heapF32(backend, phase);
  const dst = heapF32(backend, dx);
  const H = height.inSize;
  const W = width.inSize;
  for (let b = 0; b < batch; b++) {
    for (let m = 0; m < perPhaseH; m++) {
      const p = ry + height.stride * m;
      if (p >= H) break;
      let from = (b * perPhaseH + m) * perPhaseW * channels;
      let to = ((b * H + p) * W + rx) * channels;
      const step = width.stride * channels;
      for (
        let n = 0;
        n < perPhaseW && rx + width.stride * n < W;
        n++, from += channels, to += step
      ) {
        if (channels >= 16) {
          dst.set(src.subarray(from, from + channels), to);
        } else {
          for (let c = 0; c < channels; c++) dst[to + c] = src[from + c]!;
        }
      }
    }
  }
}

/** The taps of one phase, in reverse order (correlation instead of convolution). */
function reversedSubFilter(
  scratch: Scratch,
  backend: WasmBackend,
  filter: TensorInfo,
  tapSize: number,
  tapShape: number[],
  height: AxisGeometry,
  width: AxisGeometry,
  ph: AxisPhase,
  pw: AxisPhase,
): TensorInfo {
  const sub = scratch.output([ph.taps, pw.taps, ...tapShape]);
  const src = heapF32(backend, filter);
  const dst = heapF32(backend, sub);
  for (let t = 0; t < ph.taps; t++) {
    const i = ph.firstTap + (ph.taps - 1 - t) * height.stride;
    for (let u = 0; u < pw.taps; u++) {
      const j = pw.firstTap + (pw.taps - 1 - u) * width.stride;
      const from = (i * width.kernel + j) * tapSize;
      dst.set(src.subarray(from, from + tapSize), (t * pw.taps + u) * tapSize);
    }
  }
  return sub;
}
