/**
 * Kernels the tfjs wasm backend (4.22) lacks but training DenseNet needs. tfjs-core's conv2d
 * gradient with respect to the filter dispatches 'Conv2DBackpropFilter', which wasm does not
 * register ("Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'"). We build it
 * from ops wasm has: im2col with (strided) slices of the padded input, then one matMul.
 */
import * as tf from '@tensorflow/tfjs';

type Conv2DBackpropFilterAttrs = {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
};

/** Upper bound on the im2col matrix of one batch chunk (floats), to stay far from wasm's 4 GiB. */
const MAX_COLUMN_FLOATS = 1 << 24;

/**
 * dW[kh, kw, ci, co] = sum over (b, oh, ow) of xPadded[b, oh*sh + kh, ow*sw + kw, ci] * dy[b, oh, ow, co].
 * x: [B, H, W, Ci] NHWC, dy: [B, OH, OW, Co]. Exported for tests; works on any backend.
 */
export function conv2dBackpropFilterFromOps(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  attrs: Omit<Conv2DBackpropFilterAttrs, 'dataFormat'>,
  maxColumnFloats = MAX_COLUMN_FLOATS,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, ci, co] = attrs.filterShape;
    const info = tf.backend_util.computeConv2DInfo(
      x.shape, attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
    const { strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
    const { top, left } = info.padInfo;
    if (dy.shape[1] !== oh || dy.shape[2] !== ow || dy.shape[3] !== co || x.shape[3] !== ci) {
      throw new Error(`Conv2DBackpropFilter: dy shape [${dy.shape}] does not match x [${x.shape}] and filter [${attrs.filterShape}]`);
    }
    const [b, h, w] = x.shape;
    // Rows/cols the patches reach; pad at most what is read (explicit pads may exceed it).
    const needH = kh - 1 + (oh - 1) * sh + 1;
    const needW = kw - 1 + (ow - 1) * sw + 1;
    const bottom = Math.max(0, needH - h - top);
    const right = Math.max(0, needW - w - left);
    // Negative effective pads cannot occur for tfjs conv paddings; the slice start handles crops.
    const xp = top || bottom || left || right ? tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]) : x;
    const k = kh * kw * ci;
    const chunk = Math.max(1, Math.min(b, Math.floor(maxColumnFloats / Math.max(1, oh * ow * k))));
    let acc: tf.Tensor2D | null = null;
    for (let b0 = 0; b0 < b; b0 += chunk) {
      const nb = Math.min(chunk, b - b0);
      const partial = tf.tidy(() => {
        const patches: tf.Tensor4D[] = [];
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            if (sh === 1 && sw === 1) {
              patches.push(tf.slice(xp, [b0, i, j, 0], [nb, oh, ow, ci]));
            } else {
              patches.push(tf.stridedSlice(xp, [b0, i, j, 0], [b0 + nb, i + (oh - 1) * sh + 1, j + (ow - 1) * sw + 1, ci], [1, sh, sw, 1]) as tf.Tensor4D);
            }
          }
        }
        const cols = patches.length === 1 ? patches[0] : tf.concat(patches, 3);
        const m = nb * oh * ow;
        const dyChunk = nb === b ? dy : tf.slice(dy, [b0, 0, 0, 0], [nb, oh, ow, co]);
        // [K, M] x [M, Co]; an explicit transpose is much faster on wasm than matMul(transposeA).
        return tf.matMul(tf.transpose(tf.reshape(cols, [m, k])), tf.reshape(dyChunk, [m, co])) as tf.Tensor2D;
      });
      if (acc === null) {
        acc = partial;
      } else {
        const sum: tf.Tensor2D = tf.add(acc, partial);
        acc.dispose();
        partial.dispose();
        acc = sum;
      }
    }
    return tf.reshape(acc as tf.Tensor2D, [kh, kw, ci, co]);
  });
}

const conv2dBackpropFilterKernel: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const a = attrs as unknown as Conv2DBackpropFilterAttrs;
    const { x: xInfo, dy: dyInfo } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const engine = tf.engine();
    const result = tf.tidy(() => {
      // Wrap the inputs' data as tensors (no copy) and run ordinary ops on this backend.
      let x = engine.makeTensorFromTensorInfo(xInfo) as tf.Tensor4D;
      let dy = engine.makeTensorFromTensorInfo(dyInfo) as tf.Tensor4D;
      (backend as unknown as { incRef(id: unknown): void }).incRef(xInfo.dataId);
      (backend as unknown as { incRef(id: unknown): void }).incRef(dyInfo.dataId);
      if (a.dataFormat === 'NCHW') {
        x = tf.transpose(x, [0, 2, 3, 1]);
        dy = tf.transpose(dy, [0, 2, 3, 1]);
      }
      return conv2dBackpropFilterFromOps(x, dy, a);
    });
    // Hand the result's buffer to the engine: one extra reference survives disposing `result`.
    (backend as unknown as { incRef(id: unknown): void }).incRef(result.dataId);
    const out: tf.TensorInfo = { dataId: result.dataId, shape: result.shape, dtype: result.dtype };
    result.dispose();
    return out;
  },
};

/** Kernels this module adds, keyed by name. */
const KERNELS: tf.KernelConfig[] = [conv2dBackpropFilterKernel];

/**
 * Registers the missing training kernels for 'wasm' (idempotent; never replaces a kernel wasm
 * itself provides). Returns the names it registered this call.
 */
export function registerWasmTrainingKernels(): string[] {
  const added: string[] = [];
  for (const k of KERNELS) {
    if (tf.getKernel(k.kernelName, k.backendName) !== undefined) continue;
    tf.registerKernel(k);
    added.push(k.kernelName);
  }
  return added;
}
