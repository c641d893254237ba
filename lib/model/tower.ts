/**
 * The Siamese embedding tower: backbone -> head -> L2 normalise. One flat functional model
 * (backbone layers keep their own names: Keras's for DenseNet121, face-api.js's for faceres34;
 * head layers are prefixed `head_`), applied with shared weights to both images of a pair.
 *
 * Heads: 'mlp' (the seed design: GAP -> Dense-BN-LeakyReLU x2 -> Dense) and 'linear' (GAP when the
 * backbone gives a feature map -> Dense). A linear head on a backbone whose features already have
 * the embedding size starts as the identity, so a face-pretrained backbone's tower begins exactly
 * at the pretrained descriptor (normalised) and fine-tuning starts from it, not from a random map.
 */
import * as tf from '@tensorflow/tfjs';
import { badInput } from '../errors';
import { resolveDenseNetConfig } from './densenet';
import { BACKBONES, DEFAULT_DENSENET_FIELDS, backboneSpec, type BackboneName, type HeadKind } from './backbones';
import { freezableBatchNormalization, l2Normalize } from './layers';
import { withSeededMathRandom } from './seeded-init';

export interface ModelConfig {
  backbone: BackboneName;
  /** Square input side in pixels (RGB); fixed by some backbones (faceres34: 150). */
  inputSize: number;
  /** DenseNet only: conv blocks per dense block; [6, 12, 24, 16] is DenseNet121. */
  blocks?: number[];
  /** DenseNet only. */
  growthRate?: number;
  head: HeadKind;
  /** Units of the two hidden dense layers of the 'mlp' head. */
  headUnits: [number, number];
  embeddingDim: number;
  /** Negative slope of the 'mlp' head's LeakyReLUs. */
  leakyAlpha: number;
}

export const DEFAULT_MODEL_CONFIG: Readonly<ModelConfig> = Object.freeze({
  backbone: 'densenet121' as BackboneName,
  inputSize: 224,
  blocks: [...DEFAULT_DENSENET_FIELDS.blocks],
  growthRate: DEFAULT_DENSENET_FIELDS.growthRate,
  head: 'mlp' as HeadKind,
  headUnits: [512, 256] as [number, number],
  embeddingDim: 128,
  leakyAlpha: 0.2,
});

const KNOWN_FIELDS = Object.keys(DEFAULT_MODEL_CONFIG);
const BACKBONE_FIELDS = new Set(Object.values(BACKBONES).flatMap((b) => b.ownFields));

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

/** Merges the backbone's defaults into a partial config and validates it; errors name the bad field. */
export function resolveModelConfig(partial: Partial<ModelConfig> = {}): ModelConfig {
  for (const k of Object.keys(partial)) {
    if (!KNOWN_FIELDS.includes(k)) throw badInput(`model config: unknown field '${k}' (known: ${KNOWN_FIELDS.join(', ')})`, { field: k });
  }
  const spec = backboneSpec(partial.backbone ?? DEFAULT_MODEL_CONFIG.backbone, 'model config: backbone');
  for (const k of BACKBONE_FIELDS) {
    if (k in partial && !spec.ownFields.includes(k)) throw badInput(`model config: ${k} does not apply to backbone ${spec.name}`, { field: k });
  }
  const cfg: ModelConfig = {
    backbone: spec.name,
    inputSize: spec.fixedInputSize ?? DEFAULT_MODEL_CONFIG.inputSize,
    head: spec.defaultHead,
    headUnits: [...DEFAULT_MODEL_CONFIG.headUnits],
    embeddingDim: spec.defaultEmbeddingDim,
    leakyAlpha: DEFAULT_MODEL_CONFIG.leakyAlpha,
    ...(spec.ownFields.includes('blocks') ? { blocks: [...DEFAULT_DENSENET_FIELDS.blocks], growthRate: DEFAULT_DENSENET_FIELDS.growthRate } : {}),
    ...partial,
  };
  positiveInt('inputSize', cfg.inputSize);
  if (spec.fixedInputSize !== null && cfg.inputSize !== spec.fixedInputSize) {
    throw badInput(`model config: backbone ${spec.name} takes ${spec.fixedInputSize}x${spec.fixedInputSize} inputs, got inputSize ${cfg.inputSize}`, { field: 'inputSize' });
  }
  if (cfg.head !== 'mlp' && cfg.head !== 'linear') throw badInput(`model config: head must be 'mlp' or 'linear', got ${JSON.stringify(cfg.head)}`, { field: 'head' });
  if (!Array.isArray(cfg.headUnits) || cfg.headUnits.length !== 2) {
    throw badInput(`model config: headUnits must be [units1, units2], got ${JSON.stringify(cfg.headUnits)}`, { field: 'headUnits' });
  }
  cfg.headUnits.forEach((u, i) => positiveInt(`headUnits[${i}]`, u));
  positiveInt('embeddingDim', cfg.embeddingDim);
  if (typeof cfg.leakyAlpha !== 'number' || !Number.isFinite(cfg.leakyAlpha) || cfg.leakyAlpha < 0 || cfg.leakyAlpha >= 1) {
    throw badInput(`model config: leakyAlpha must be a number in [0, 1), got ${JSON.stringify(cfg.leakyAlpha)}`, { field: 'leakyAlpha' });
  }
  if (spec.name === 'densenet121') {
    if (!Array.isArray(cfg.blocks) || cfg.blocks.length === 0) {
      throw badInput(`model config: blocks must be a non-empty array of positive integers, got ${JSON.stringify(cfg.blocks)}`, { field: 'blocks' });
    }
    cfg.blocks.forEach((b, i) => positiveInt(`blocks[${i}]`, b));
    positiveInt('growthRate', cfg.growthRate);
    // Let the backbone check that the input size survives its down-sampling.
    resolveDenseNetConfig({ blocks: cfg.blocks, growthRate: cfg.growthRate, inputSize: cfg.inputSize });
  }
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
  const spec = BACKBONES[cfg.backbone];
  let x = spec.apply(input, { inputSize: cfg.inputSize, blocks: cfg.blocks ?? [], growthRate: cfg.growthRate ?? 0 });
  const L = TOWER_LAYERS;
  if (x.shape.length === 4) x = tf.layers.globalAveragePooling2d({ name: L.pool }).apply(x) as tf.SymbolicTensor;
  if (cfg.head === 'mlp') {
    const hidden = (units: number, dense: string, bn: string, act: string): void => {
      x = tf.layers.dense({ units, name: dense }).apply(x) as tf.SymbolicTensor;
      x = freezableBatchNormalization({ name: bn }).apply(x) as tf.SymbolicTensor;
      x = tf.layers.leakyReLU({ alpha: cfg.leakyAlpha, name: act }).apply(x) as tf.SymbolicTensor;
    };
    hidden(cfg.headUnits[0], L.dense1, L.bn1, L.act1);
    hidden(cfg.headUnits[1], L.dense2, L.bn2, L.act2);
  }
  const features = x.shape[1] as number;
  const identity = cfg.head === 'linear' && features === cfg.embeddingDim;
  x = tf.layers
    .dense({ units: cfg.embeddingDim, name: L.embedding, ...(identity ? { kernelInitializer: tf.initializers.identity({}), biasInitializer: 'zeros' } : {}) })
    .apply(x) as tf.SymbolicTensor;
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
