/**
 * The backbones one embedding tower can be built on. Each owns what the rest of the system must
 * match: its input size (fixed or free), its input normalisation, its feature output, where its
 * pretrained weights come from, and which tower head suits it by default.
 *
 * - densenet121: the mission's backbone (Keras layer names; ImageNet "notop" weights by name).
 * - faceres34: face-api.js's ResNet-34 face embedder (dlib), pretrained on faces; weights ship in
 *   the @vladmandic/face-api npm package, so they are available offline.
 */
import type * as tf from '@tensorflow/tfjs';
import { badInput } from '../errors';
import { applyDenseNet, DENSENET121_BLOCKS } from './densenet';
import { applyFaceRes34, FACERES34_EMBEDDING_DIM, FACERES34_INPUT_SIZE, FACERES34_MEAN_RGB } from './faceres34';
import { IMAGENET_NORMALIZATION, type Normalization } from './preprocess';

export const BACKBONE_NAMES = ['densenet121', 'faceres34'] as const;
export type BackboneName = (typeof BACKBONE_NAMES)[number];

export type HeadKind = 'mlp' | 'linear';

export interface BackboneSpec {
  name: BackboneName;
  /** The input side the backbone requires, or null when any size (above a minimum) works. */
  fixedInputSize: number | null;
  normalization: Normalization;
  /** Head used when the config names none. */
  defaultHead: HeadKind;
  /** Embedding size used when the config names none. */
  defaultEmbeddingDim: number;
  /** Where its published weights come from (recorded in model cards). */
  pretrained: 'imagenet' | 'face-api';
  /** Config fields only this backbone understands (other backbones refuse them). */
  ownFields: readonly string[];
  /** Applies the backbone to a preprocessed input: a 4-D feature map or a 2-D feature vector. */
  apply(input: tf.SymbolicTensor, cfg: { inputSize: number; blocks: number[]; growthRate: number }): tf.SymbolicTensor;
}

export const BACKBONES: Readonly<Record<BackboneName, BackboneSpec>> = Object.freeze({
  densenet121: {
    name: 'densenet121',
    fixedInputSize: null,
    normalization: IMAGENET_NORMALIZATION,
    defaultHead: 'mlp',
    defaultEmbeddingDim: 128,
    pretrained: 'imagenet',
    ownFields: ['blocks', 'growthRate'],
    apply: (input, cfg) => applyDenseNet(input, { blocks: cfg.blocks, growthRate: cfg.growthRate, inputSize: cfg.inputSize, reduction: 0.5 }),
  },
  faceres34: {
    name: 'faceres34',
    fixedInputSize: FACERES34_INPUT_SIZE,
    // face-api.js: (x - mean_rgb) / 255, i.e. x / 255 - mean_rgb / 255 with std 1.
    normalization: Object.freeze({ mean: FACERES34_MEAN_RGB.map((m) => m / 255) as [number, number, number], std: [1, 1, 1] as [number, number, number] }),
    defaultHead: 'linear',
    defaultEmbeddingDim: FACERES34_EMBEDDING_DIM,
    pretrained: 'face-api',
    ownFields: [],
    apply: (input) => applyFaceRes34(input),
  },
});

export const DEFAULT_DENSENET_FIELDS = Object.freeze({ blocks: [...DENSENET121_BLOCKS], growthRate: 32 });

export function backboneSpec(name: unknown, field = 'backbone'): BackboneSpec {
  if (typeof name !== 'string' || !(BACKBONE_NAMES as readonly string[]).includes(name)) {
    throw badInput(`${field} must be one of ${BACKBONE_NAMES.join(', ')}, got ${JSON.stringify(name)}`, { field });
  }
  return BACKBONES[name as BackboneName];
}
