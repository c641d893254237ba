/**
 * dlib's ResNet-34 face embedder (the network behind face-api.js's FaceRecognitionNet) written as
 * tfjs-layers, so it trains, checkpoints and exports like any other backbone. Layer names follow
 * the weight names face-api.js ships (`conv32_down/conv`, `conv64_1/conv2/scale`, `fc`), so the
 * package's pretrained weights load by name (lib/model/face-api-weights.ts).
 *
 * The forward pass is face-api.js's (src/faceRecognitionNet): every conv is conv + bias + a
 * per-channel affine "scale" layer (dlib's batch norm, folded at export), ReLU after all but the
 * second conv of a residual unit; a down-sampling unit adds the 2x2 average pool of its input,
 * zero-padded to the new channel count, and pads the conv branch by one row and column when the
 * pool is larger. The output is the 128-d descriptor (`fc`, no bias): face-api.js compares it with
 * the Euclidean distance, threshold 0.6.
 */
import * as tf from '@tensorflow/tfjs';
import { badInput } from '../errors';
import { channelScale, zeroPadChannels } from './layers';

/** The only input side the pretrained network is built for (dlib's 150x150 face chips). */
export const FACERES34_INPUT_SIZE = 150;
export const FACERES34_EMBEDDING_DIM = 128;
/** face-api.js subtracts this RGB mean (0..255 scale), then divides by 255. */
export const FACERES34_MEAN_RGB: readonly [number, number, number] = [122.782, 117.001, 104.298];
/** Layer name of the backbone's last layer (the descriptor). */
export const FACERES34_OUTPUT_LAYER = 'fc';

type T = tf.SymbolicTensor;

function convUnit(x: T, filters: number, name: string, opts: { stride: 1 | 2; kernel?: number; relu: boolean }): T {
  const down = opts.stride === 2;
  let y = tf.layers
    .conv2d({ filters, kernelSize: opts.kernel ?? 3, strides: opts.stride, padding: down ? 'valid' : 'same', useBias: true, name: `${name}/conv` })
    .apply(x) as T;
  y = channelScale({ name: `${name}/scale` }).apply(y) as T;
  return opts.relu ? (tf.layers.reLU({ name: `${name}/relu` }).apply(y) as T) : y;
}

/** conv-scale-relu, conv-scale, + input, relu. */
function residual(x: T, name: string): T {
  const channels = x.shape[3] as number;
  let out = convUnit(x, channels, `${name}/conv1`, { stride: 1, relu: true });
  out = convUnit(out, channels, `${name}/conv2`, { stride: 1, relu: false });
  out = tf.layers.add({ name: `${name}/add` }).apply([out, x]) as T;
  return tf.layers.reLU({ name: `${name}/relu` }).apply(out) as T;
}

/** Down-sampling residual unit: strided valid conv branch + average-pooled, channel-padded shortcut. */
function residualDown(x: T, filters: number, name: string): T {
  let out = convUnit(x, filters, `${name}/conv1`, { stride: 2, relu: true });
  out = convUnit(out, filters, `${name}/conv2`, { stride: 1, relu: false });
  let pooled = tf.layers.averagePooling2d({ poolSize: 2, strides: 2, padding: 'valid', name: `${name}/pool` }).apply(x) as T;
  const [ph, pw] = [pooled.shape[1] as number, pooled.shape[2] as number];
  const [oh, ow] = [out.shape[1] as number, out.shape[2] as number];
  if (ph !== oh || pw !== ow) {
    // face-api.js appends one zero row and column to the conv branch; nothing else is defined.
    if (ph - oh !== 1 || pw - ow !== 1) throw badInput(`faceres34: ${name} cannot match a ${oh}x${ow} branch to a ${ph}x${pw} shortcut (input size must be ${FACERES34_INPUT_SIZE})`);
    out = tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: `${name}/pad` }).apply(out) as T;
  }
  if ((pooled.shape[3] as number) !== filters) pooled = zeroPadChannels({ channels: filters, name: `${name}/pad_channels` }).apply(pooled) as T;
  out = tf.layers.add({ name: `${name}/add` }).apply([pooled, out]) as T;
  return tf.layers.reLU({ name: `${name}/relu` }).apply(out) as T;
}

/** Applies the ResNet-34 to `input` ([N, 150, 150, 3], preprocessed): the [N, 128] descriptor. */
export function applyFaceRes34(input: T): T {
  const side = input.shape[1];
  if (side !== FACERES34_INPUT_SIZE || input.shape[2] !== FACERES34_INPUT_SIZE) {
    throw badInput(`faceres34 takes ${FACERES34_INPUT_SIZE}x${FACERES34_INPUT_SIZE} inputs, got ${side}x${input.shape[2]}`, { field: 'imageSize' });
  }
  let x = convUnit(input, 32, 'conv32_down', { stride: 2, kernel: 7, relu: true });
  x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'valid', name: 'pool' }).apply(x) as T;
  for (const n of [1, 2, 3]) x = residual(x, `conv32_${n}`);
  x = residualDown(x, 64, 'conv64_down');
  for (const n of [1, 2, 3]) x = residual(x, `conv64_${n}`);
  x = residualDown(x, 128, 'conv128_down');
  for (const n of [1, 2]) x = residual(x, `conv128_${n}`);
  x = residualDown(x, 256, 'conv256_down');
  for (const n of [1, 2]) x = residual(x, `conv256_${n}`);
  x = residualDown(x, 256, 'conv256_down_out');
  x = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as T;
  return tf.layers.dense({ units: FACERES34_EMBEDDING_DIM, useBias: false, name: FACERES34_OUTPUT_LAYER }).apply(x) as T;
}
