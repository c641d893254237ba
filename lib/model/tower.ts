/**
 * The Siamese embedding tower: DenseNet backbone -> GAP -> Dense-BN-LeakyReLU x2 -> Dense ->
 * L2 normalise. One flat functional model (backbone layers keep their Keras names, head layers
 * are prefixed `head_`), applied with shared weights to both images of a pair.
 */
import * as tf from '@tensorflow/tfjs';
import { badInput } from '../errors';
import { applyDenseNet, DENSENET121_BLOCKS, resolveDenseNetConfig } from './densenet';
import { freezableBatchNormalization, l2Normalize } from './layers';
import { withSeededMathRandom } from './seeded-init';

export interface ModelConfig {
  /** Square input side in pixels (RGB). */
  inputSize: number;
  /** DenseNet block counts; [6, 12, 24, 16] is DenseNet121. */
  blocks: number[];
  growthRate: number;
  /** Units of the two hidden dense layers of the head. */
  headUnits: [number, number];
  embeddingDim: number;
  /** Negative slope of the head's LeakyReLUs. */
  leakyAlpha: number;
}

export const DEFAULT_MODEL_CONFIG: Readonly<ModelConfig> = Object.freeze({
  inputSize: 224,
  blocks: [...DENSENET121_BLOCKS],
  growthRate: 32,
  headUnits: [512, 256] as [number, number],
  embeddingDim: 128,
  leakyAlpha: 0.2,
});

/** Prefix of every head layer; everything else (but the input) is backbone. */
export const HEAD_PREFIX = 'head_';

export const TOWER_LAYERS = {
  pool: 'head_pool',
  dense1: 'head_dense1',
  bn1: 'head_bn1',
  act1: 'head_act1',
  dense2: 'head_dense2',
  bn2: 'head_bn2',
  act2: 'head_act2',
  embedding: 'head_embedding',
  l2: 'head_l2norm',
} as const;

function positiveInt(field: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw badInput(`model config: ${field} must be a positive integer, got ${JSON.stringify(v)}`, { field });
  }
}

/** Merges defaults into a partial config and validates it; errors name the bad field. */
export function resolveModelConfig(partial: Partial<ModelConfig> = {}): ModelConfig {
  const known = new Set(Object.keys(DEFAULT_MODEL_CONFIG));
  for (const k of Object.keys(partial)) {
    if (!known.has(k)) throw badInput(`model config: unknown field '${k}' (known: ${[...known].join(', ')})`, { field: k });
  }
  const cfg: ModelConfig = {
    ...DEFAULT_MODEL_CONFIG,
    blocks: [...DEFAULT_MODEL_CONFIG.blocks],
    headUnits: [...DEFAULT_MODEL_CONFIG.headUnits],
    ...partial,
  };
  positiveInt('inputSize', cfg.inputSize);
  if (!Array.isArray(cfg.blocks) || cfg.blocks.length === 0) {
    throw badInput(`model config: blocks must be a non-empty array of positive integers, got ${JSON.stringify(cfg.blocks)}`, { field: 'blocks' });
  }
  cfg.blocks.forEach((b, i) => positiveInt(`blocks[${i}]`, b));
  positiveInt('growthRate', cfg.growthRate);
  if (!Array.isArray(cfg.headUnits) || cfg.headUnits.length !== 2) {
    throw badInput(`model config: headUnits must be [units1, units2], got ${JSON.stringify(cfg.headUnits)}`, { field: 'headUnits' });
  }
  cfg.headUnits.forEach((u, i) => positiveInt(`headUnits[${i}]`, u));
  positiveInt('embeddingDim', cfg.embeddingDim);
  if (typeof cfg.leakyAlpha !== 'number' || !Number.isFinite(cfg.leakyAlpha) || cfg.leakyAlpha < 0 || cfg.leakyAlpha >= 1) {
    throw badInput(`model config: leakyAlpha must be a number in [0, 1), got ${JSON.stringify(cfg.leakyAlpha)}`, { field: 'leakyAlpha' });
  }
  // Let the backbone check that the input size survives its down-sampling.
  resolveDenseNetConfig({ blocks: cfg.blocks, growthRate: cfg.growthRate, inputSize: cfg.inputSize });
  return cfg;
}

export interface BuildTowerOptions {
  /** Seeds every initialiser: the same seed gives the same initial weights (required, so no caller gets a random init by accident). */
  seed: string | number;
  name?: string;
}

/** Builds the tower: [N, S, S, 3] preprocessed images -> [N, embeddingDim] unit vectors. */
export function buildEmbeddingTower(partial: Partial<ModelConfig>, opts: BuildTowerOptions): tf.LayersModel {
  const cfg = resolveModelConfig(partial);
  return withSeededMathRandom(`${opts.seed}\u0000init`, () => buildTower(cfg, opts.name ?? 'siamface_tower'));
}

function buildTower(cfg: ModelConfig, name: string): tf.LayersModel {
  const input = tf.input({ shape: [cfg.inputSize, cfg.inputSize, 3], name: 'input_1' });
  let x = applyDenseNet(input, { blocks: cfg.blocks, growthRate: cfg.growthRate, inputSize: cfg.inputSize, reduction: 0.5 });
  const L = TOWER_LAYERS;
  x = tf.layers.globalAveragePooling2d({ name: L.pool }).apply(x) as tf.SymbolicTensor;
  const hidden = (units: number, dense: string, bn: string, act: string): void => {
    x = tf.layers.dense({ units, name: dense }).apply(x) as tf.SymbolicTensor;
    x = freezableBatchNormalization({ name: bn }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.leakyReLU({ alpha: cfg.leakyAlpha, name: act }).apply(x) as tf.SymbolicTensor;
  };
  hidden(cfg.headUnits[0], L.dense1, L.bn1, L.act1);
  hidden(cfg.headUnits[1], L.dense2, L.bn2, L.act2);
  x = tf.layers.dense({ units: cfg.embeddingDim, name: L.embedding }).apply(x) as tf.SymbolicTensor;
  x = l2Normalize({ name: L.l2 }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: x, name });
}

export function isHeadLayer(layer: tf.layers.Layer): boolean {
  return layer.name.startsWith(HEAD_PREFIX);
}

/**
 * Freezes (phase 1) or unfreezes (phase 2) every backbone layer; head layers stay trainable.
 * Frozen batch-norm layers also stop updating their statistics (see FreezableBatchNormalization).
 * Call before compiling / before collecting `model.trainableWeights` for an optimizer: tfjs
 * captures the trainable set at compile time. Returns the number of layers changed.
 */
export function setBackboneTrainable(model: tf.LayersModel, trainable: boolean): number {
  let changed = 0;
  for (const layer of model.layers) {
    if (isHeadLayer(layer) || layer.weights.length === 0) continue;
    if (layer.trainable !== trainable) changed++;
    layer.trainable = trainable;
  }
  return changed;
}

/** Number of scalars in the model's weights (trainable and not), as Keras's count_params. */
export function countParams(model: tf.LayersModel): number {
  return model.weights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b as number), 1), 0);
}
