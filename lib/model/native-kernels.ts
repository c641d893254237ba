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
const BATCH_NORM_TRAIN = 'SiamfaceNativeBatchNormTrain';
const BATCH_NORM_TRAIN_GRAD = 'SiamfaceNativeBatchNormTrainGrad';
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

  // Training-mode batch norm as TensorFlow computes it: one op for batch statistics and output,
  // one op for all three gradients (used by useNativeBatchNormTraining).
  const bnAttrs = (b: NativeBackend, epsilon: number): NativeAttr[] => [
    floatType(b, 'T'),
    floatType(b, 'U'),
    { name: 'epsilon', type: b.binding.TF_ATTR_FLOAT, value: epsilon },
    { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'is_training', type: b.binding.TF_ATTR_BOOL, value: true },
  ];
  tf.registerKernel({
    kernelName: BATCH_NORM_TRAIN,
    backendName: NATIVE_BACKEND,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as NativeBackend;
      const { x, scale, offset } = inputs as Record<string, tf.Tensor>;
      return tf.tidy(() => {
        const empty = tf.tensor1d([], 'float32');
        // Outputs: y, batch mean, batch variance (Bessel-corrected), saved mean, saved inverse std / variance.
        return b.executeMultipleOutputs('FusedBatchNormV2', bnAttrs(b, (attrs as { epsilon: number }).epsilon), [x, scale, offset, empty, empty], 5);
      }) as unknown as tf.TensorInfo[];
    },
  });
  tf.registerKernel({
    kernelName: BATCH_NORM_TRAIN_GRAD,
    backendName: NATIVE_BACKEND,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as NativeBackend;
      const { dy, x, scale, saved1, saved2 } = inputs as Record<string, tf.Tensor>;
      const [dx, dScale, dOffset, r4, r5] = b.executeMultipleOutputs(
        'FusedBatchNormGradV2', bnAttrs(b, (attrs as { epsilon: number }).epsilon), [dy, x, scale, saved1, saved2], 5);
      tf.dispose([r4, r5]);
      return [dx, dScale, dOffset] as unknown as tf.TensorInfo[];
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

/**
 * Batch norm in training mode on the native backend: output normalised with the batch's own
 * statistics, plus those statistics (mean and biased variance, as tfjs-layers uses them for its
 * moving averages). x is [N, H, W, C] or [N, C], channels last. Differentiable in x, gamma, beta
 * (TensorFlow's FusedBatchNormGradV2). Call registerNativeTrainingKernels() first. The caller
 * disposes mean and variance (they are kept out of any enclosing tf.tidy).
 */
export function fusedBatchNormTraining(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  const shape4 = x.rank === 4 ? x.shape : [x.shape[0] as number, 1, 1, x.shape[1] as number];
  const n = x.size / (x.shape[x.rank - 1] as number);
  let stats: tf.Tensor[] = [];
  const run = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, g, bt] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const x4 = tf.reshape(xi, shape4);
    const [y, mean, unbiased, saved1, saved2] = tf.engine().runKernel(BATCH_NORM_TRAIN, { x: x4, scale: g, offset: bt }, { epsilon }) as tf.Tensor[];
    save([x4, g, saved1, saved2]);
    // customGrad disposes what its forward function creates besides the output: keep the statistics.
    stats = [tf.keep(mean), tf.keep(n > 1 ? tf.mul(unbiased, (n - 1) / n) : unbiased)];
    return {
      value: tf.reshape(y, xi.shape),
      gradFunc: (dy, saved) => {
        const [xs, gs, s1, s2] = saved;
        const [dx, dScale, dOffset] = tf.engine().runKernel(
          BATCH_NORM_TRAIN_GRAD, { dy: tf.reshape(dy as tf.Tensor, shape4), x: xs, scale: gs, saved1: s1, saved2: s2 }, { epsilon }) as tf.Tensor[];
        return [tf.reshape(dx, xi.shape), dScale, dOffset];
      },
    };
  });
  const y = run(x, gamma, beta) as tf.Tensor;
  return { y, mean: stats[0], variance: stats[1] };
}

/** What useNativeBatchNormTraining reads of a tfjs BatchNormalization layer. */
interface BatchNormInternals {
  axis: number;
  epsilon: number;
  momentum: number;
  gamma?: tf.LayerVariable;
  beta?: tf.LayerVariable;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[];
}

/**
 * Makes every batch-norm layer of `model` (tfjs BatchNormalization and subclasses such as
 * FreezableBatchNormalization) use fusedBatchNormTraining for training-mode calls on the
 * 'tensorflow' backend: same maths and moving-average update as tfjs-layers, a handful of native
 * ops instead of about 20 element-wise ones. Inference calls, frozen layers (which the layer's own
 * call turns into inference), other backends and unusual layouts keep the layer's own call.
 * Returns the number of layers switched.
 */
export function useNativeBatchNormTraining(model: tf.LayersModel): number {
  registerNativeTrainingKernels();
  let switched = 0;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization' && layer.getClassName() !== 'FreezableBatchNormalization') continue;
    const bn = layer as unknown as BatchNormInternals;
    const ownCall = bn.call.bind(layer);
    bn.call = (inputs, kwargs) => {
      const input = Array.isArray(inputs) ? inputs[0] : inputs;
      const axis = bn.axis >= 0 ? bn.axis : bn.axis + input.rank;
      const usable = kwargs['training'] === true && layer.trainable && bn.gamma && bn.beta && axis === input.rank - 1
        && (input.rank === 4 || input.rank === 2) && onNativeFloat(input);
      if (!usable) return ownCall(inputs, kwargs);
      return tf.tidy(() => {
        const { y, mean, variance } = fusedBatchNormTraining(input, bn.gamma!.read(), bn.beta!.read(), bn.epsilon);
        for (const [v, value] of [[bn.movingMean, mean], [bn.movingVariance, variance]] as const) {
          const old = v.read();
          v.write(tf.sub(old, tf.mul(tf.sub(old, value), 1 - bn.momentum)));
        }
        tf.dispose([mean, variance]);
        return y;
      });
    };
    switched++;
  }
  return switched;
}
