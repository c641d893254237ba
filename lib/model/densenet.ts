/**
 * DenseNet (Huang et al. 2017) built with tfjs-layers, include_top=False, with Keras's exact
 * layer names and hyper-parameters (keras/applications/densenet.py) so that the official Keras
 * ImageNet "notop" weights load by layer name. The block counts are configurable so tests can
 * build a tiny DenseNet through the same code; DenseNet121 is blocks [6, 12, 24, 16].
 */
import * as tf from '@tensorflow/tfjs';
import { badInput } from '../errors';
import { freezableBatchNormalization } from './layers';

export interface DenseNetConfig {
  /** Conv blocks per dense block; DenseNet121 = [6, 12, 24, 16]. Dense block i is named conv{i+2}. */
  blocks: number[];
  /** Channels each conv block adds (Keras hard-codes 32). */
  growthRate: number;
  /** Square input side in pixels (RGB, channels last). */
  inputSize: number;
  /** Channel compression of the transition blocks (Keras: 0.5). */
  reduction: number;
}

export const DENSENET121_BLOCKS: readonly number[] = [6, 12, 24, 16];

export const DEFAULT_DENSENET_CONFIG: DenseNetConfig = {
  blocks: [...DENSENET121_BLOCKS],
  growthRate: 32,
  inputSize: 224,
  reduction: 0.5,
};

/** Keras's BatchNormalization epsilon in DenseNet (not the layer default of 1e-3). */
export const DENSENET_BN_EPSILON = 1.001e-5;

/** Layer name of the backbone's last layer (its output feeds the head). */
export const DENSENET_OUTPUT_LAYER = 'relu';

function positiveInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw badInput(`DenseNet config: ${name} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function resolveDenseNetConfig(partial: Partial<DenseNetConfig> = {}): DenseNetConfig {
  const cfg: DenseNetConfig = { ...DEFAULT_DENSENET_CONFIG, ...partial };
  if (!Array.isArray(cfg.blocks) || cfg.blocks.length === 0) {
    throw badInput(`DenseNet config: blocks must be a non-empty array of positive integers, got ${JSON.stringify(cfg.blocks)}`);
  }
  cfg.blocks.forEach((b, i) => positiveInt(`blocks[${i}]`, b));
  positiveInt('growthRate', cfg.growthRate);
  positiveInt('inputSize', cfg.inputSize);
  if (typeof cfg.reduction !== 'number' || !(cfg.reduction > 0 && cfg.reduction <= 1)) {
    throw badInput(`DenseNet config: reduction must be in (0, 1], got ${JSON.stringify(cfg.reduction)}`);
  }
  // Each transition halves the side; stem divides by 4. Catch sizes that collapse to zero.
  let side = Math.floor((cfg.inputSize + 6 - 7) / 2) + 1; // conv1 (pad 3, k7, s2)
  side = Math.floor((side + 2 - 3) / 2) + 1; // pool1 (pad 1, k3, s2)
  for (let i = 0; i < cfg.blocks.length - 1; i++) side = Math.floor(side / 2);
  if (side < 1) {
    throw badInput(`DenseNet config: inputSize ${cfg.inputSize} is too small for ${cfg.blocks.length} dense blocks (feature map would vanish)`);
  }
  return cfg;
}

const channelsOf = (x: tf.SymbolicTensor): number => x.shape[3] as number;

function batchNorm(x: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  return freezableBatchNormalization({ axis: 3, epsilon: DENSENET_BN_EPSILON, name }).apply(x) as tf.SymbolicTensor;
}

function relu(x: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  return tf.layers.activation({ activation: 'relu', name }).apply(x) as tf.SymbolicTensor;
}

function conv(x: tf.SymbolicTensor, filters: number, kernelSize: number, name: string, opts: { strides?: number; padding?: 'same' | 'valid' } = {}): tf.SymbolicTensor {
  return tf.layers
    .conv2d({ filters, kernelSize, strides: opts.strides ?? 1, padding: opts.padding ?? 'valid', useBias: false, name })
    .apply(x) as tf.SymbolicTensor;
}

/** Keras conv_block: BN-ReLU-Conv1x1(4k)-BN-ReLU-Conv3x3(k), concatenated to the input. */
function convBlock(x: tf.SymbolicTensor, growthRate: number, name: string): tf.SymbolicTensor {
  let x1 = batchNorm(x, `${name}_0_bn`);
  x1 = relu(x1, `${name}_0_relu`);
  x1 = conv(x1, 4 * growthRate, 1, `${name}_1_conv`);
  x1 = batchNorm(x1, `${name}_1_bn`);
  x1 = relu(x1, `${name}_1_relu`);
  x1 = conv(x1, growthRate, 3, `${name}_2_conv`, { padding: 'same' });
  return tf.layers.concatenate({ axis: 3, name: `${name}_concat` }).apply([x, x1]) as tf.SymbolicTensor;
}

function denseBlock(x: tf.SymbolicTensor, blocks: number, growthRate: number, name: string): tf.SymbolicTensor {
  for (let i = 0; i < blocks; i++) x = convBlock(x, growthRate, `${name}_block${i + 1}`);
  return x;
}

/** Keras transition_block: BN-ReLU-Conv1x1(reduction * C)-AvgPool2x2. */
function transitionBlock(x: tf.SymbolicTensor, reduction: number, name: string): tf.SymbolicTensor {
  x = batchNorm(x, `${name}_bn`);
  x = relu(x, `${name}_relu`);
  // Keras: int(x.shape[bn_axis] * reduction), i.e. truncation.
  x = conv(x, Math.trunc(channelsOf(x) * reduction), 1, `${name}_conv`);
  return tf.layers.averagePooling2d({ poolSize: 2, strides: 2, name: `${name}_pool` }).apply(x) as tf.SymbolicTensor;
}

/** Applies the DenseNet feature extractor to `input` (NHWC RGB, already preprocessed). */
export function applyDenseNet(input: tf.SymbolicTensor, config: DenseNetConfig): tf.SymbolicTensor {
  // Keras leaves the two ZeroPadding2D layers unnamed; these are the names a fresh Keras session gives.
  let x = tf.layers.zeroPadding2d({ padding: [[3, 3], [3, 3]], name: 'zero_padding2d' }).apply(input) as tf.SymbolicTensor;
  x = conv(x, 64, 7, 'conv1/conv', { strides: 2 });
  x = batchNorm(x, 'conv1/bn');
  x = relu(x, 'conv1/relu');
  x = tf.layers.zeroPadding2d({ padding: [[1, 1], [1, 1]], name: 'zero_padding2d_1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool1' }).apply(x) as tf.SymbolicTensor;
  config.blocks.forEach((n, i) => {
    x = denseBlock(x, n, config.growthRate, `conv${i + 2}`);
    if (i < config.blocks.length - 1) x = transitionBlock(x, config.reduction, `pool${i + 2}`);
  });
  x = batchNorm(x, 'bn');
  return relu(x, DENSENET_OUTPUT_LAYER);
}

/** The DenseNet backbone as its own model: input [N, S, S, 3] -> feature map [N, S/32, S/32, C]. */
export function buildDenseNet(partial: Partial<DenseNetConfig> = {}, name = 'densenet'): tf.LayersModel {
  const config = resolveDenseNetConfig(partial);
  const input = tf.input({ shape: [config.inputSize, config.inputSize, 3], name: 'input_1' });
  return tf.model({ inputs: input, outputs: applyDenseNet(input, config), name });
}

/** Channels of the backbone's output feature map for a config (without building it). */
export function denseNetOutputChannels(config: DenseNetConfig): number {
  let c = 64;
  config.blocks.forEach((n, i) => {
    c += n * config.growthRate;
    if (i < config.blocks.length - 1) c = Math.trunc(c * config.reduction);
  });
  return c;
}
