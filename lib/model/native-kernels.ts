/**
 * Faster gradients for tfjs-node (the 'tensorflow' backend). tfjs-core writes the gradients of
 * Relu and FusedBatchNorm as chains of element-wise ops (Relu: Step, itself 5 TensorFlow ops in
 * tfjs-node, then Mul; batch norm: about 10 full-size Sub/Mul/Tile/Sum ops). On a CPU those ops
 * are memory-bound and dominate a DenseNet training step (dozens of batch norms and ReLUs on
 * concatenated feature maps). TensorFlow has each of these gradients as one fused native op:
 * ReluGrad and FusedBatchNormGradV2. Registering this swaps them in on the 'tensorflow' backend
 * only; every other backend keeps tfjs's own gradient (the replaced gradient functions delegate).
 */
import * as tf from '@tensorflow/tfjs';

const RELU_GRAD = 'SiamfaceNativeReluGrad';
const BATCH_NORM_GRAD = 'SiamfaceNativeBatchNormGrad';
const NATIVE_BACKEND = 'tensorflow';

/** The part of tfjs-node's NodeJSKernelBackend these kernels use. */
interface NativeBackend {
  binding: Record<string, number>;
  executeSingleOutput(name: string, attrs: NativeAttr[], inputs: tf.Tensor[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: NativeAttr[], inputs: tf.Tensor[], numOutputs: number): tf.Tensor[];
}
interface NativeAttr {
  name: string;
  type: number;
  value: number | string | boolean;
}

let registered = false;

function floatType(b: NativeBackend, name: string): NativeAttr {
  return { name, type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT };
}

function onNativeFloat(...ts: (tf.Tensor | null | undefined)[]): boolean {
  return tf.getBackend() === NATIVE_BACKEND && ts.every((t) => t != null && t.dtype === 'float32');
}

/**
 * Registers the native gradient kernels and routes the Relu and FusedBatchNorm gradients to them
 * while the 'tensorflow' backend is active. Idempotent; returns the gradients it replaced (empty
 * when already registered).
 */
export function registerNativeTrainingKernels(): string[] {
  if (registered) return [];
  const reluGrad = tf.getGradient('Relu');
  const batchNormGrad = tf.getGradient('FusedBatchNorm');
  if (!reluGrad || !batchNormGrad) throw new Error('tfjs has no gradient for Relu or FusedBatchNorm to replace');

  tf.registerKernel({
    kernelName: RELU_GRAD,
    backendName: NATIVE_BACKEND,
    kernelFunc: ({ inputs, backend }) => {
      const b = backend as unknown as NativeBackend;
      const { dy, x } = inputs as { dy: tf.Tensor; x: tf.Tensor };
      return b.executeSingleOutput('ReluGrad', [floatType(b, 'T')], [dy, x]);
    },
  });

  // Batch norm gradient with mean and variance as inputs (tfjs-layers computes them with
  // tf.moments and feeds them in), i.e. TensorFlow's is_training=false form; the mean and
  // variance gradients then follow per channel from the scale and offset gradients.
  tf.registerKernel({
    kernelName: BATCH_NORM_GRAD,
    backendName: NATIVE_BACKEND,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as NativeBackend;
      const { dy, x, mean, variance, scale } = inputs as Record<string, tf.Tensor>;
      const epsilon = (attrs as { varianceEpsilon: number }).varianceEpsilon;
      return tf.tidy(() => {
        const shape4 = x.rank === 4 ? x.shape : [x.shape[0] as number, 1, 1, x.shape[1] as number];
        const [dx, dScale, dOffset, r4, r5] = b.executeMultipleOutputs(
          'FusedBatchNormGradV2',
          [
            floatType(b, 'T'),
            floatType(b, 'U'),
            { name: 'epsilon', type: b.binding.TF_ATTR_FLOAT, value: epsilon },
            { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: 'NHWC' },
            { name: 'is_training', type: b.binding.TF_ATTR_BOOL, value: false },
          ],
          [tf.reshape(dy, shape4), tf.reshape(x, shape4), scale, mean, variance],
          5,
        );
        tf.dispose([r4, r5]);
        return [tf.reshape(dx, x.shape), dScale, dOffset];
      }) as unknown as tf.TensorInfo[];
    },
  });

  tf.registerGradient({
    kernelName: 'Relu',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const dy1 = dy as tf.Tensor;
      if (!onNativeFloat(dy1, x)) return reluGrad.gradFunc(dy, saved, attrs);
      return { x: () => tf.engine().runKernel(RELU_GRAD, { dy: dy1, x }) as tf.Tensor };
    },
  });

  tf.registerGradient({
    kernelName: 'FusedBatchNorm',
    inputsToSave: batchNormGrad.inputsToSave,
    gradFunc: (dy, saved, attrs) => {
      const [x, mean, variance, scale] = saved;
      const dy1 = dy as tf.Tensor;
      const usable = onNativeFloat(dy1, x, mean, variance, scale) && mean.rank === 1 && (x.rank === 4 || x.rank === 2)
        && scale.rank === 1 && variance.rank === 1 && x.shape[x.rank - 1] === mean.shape[0];
      if (!usable) return batchNormGrad.gradFunc(dy, saved, attrs);
      const { varianceEpsilon } = attrs as { varianceEpsilon: number };
      const [dx, dScale, dOffset] = tf.engine().runKernel(BATCH_NORM_GRAD, { dy: dy1, x, mean, variance, scale }, { varianceEpsilon }) as tf.Tensor[];
      // y = (x - mean) * scale / sqrt(variance + eps) + offset, per channel:
      //   dy/dmean = -sum(dy) * scale / sqrt(v + eps) = -dOffset * scale / sqrt(v + eps)
      //   dy/dvariance = -0.5 * sum(dy * (x - mean)) * scale / (v + eps)^1.5 = -0.5 * dScale * scale / (v + eps)
      const vEps = tf.add(variance, varianceEpsilon);
      return {
        x: () => dx,
        mean: () => tf.neg(tf.mul(tf.mul(dOffset, scale), tf.rsqrt(vEps))),
        variance: () => tf.mul(-0.5, tf.div(tf.mul(dScale, scale), vEps)),
        scale: () => dScale,
        offset: () => dOffset,
      };
    },
  });
  registered = true;
  return ['Relu', 'FusedBatchNorm'];
}
