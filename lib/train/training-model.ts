/**
 * The models of a training run: the tower (what is validated, checkpointed as the best weights and
 * exported) and the training model (the tower, plus the margin losses' class-centre layer, whose
 * outputs the objective reads; checkpoints hold all of its weights). Also the tower's initial
 * weights: the backbone's published ones, a Keras ImageNet file, or the seeded random init.
 */
import * as tf from '@tensorflow/tfjs';
import type { ObjectStore } from '../storage/object-store';
import type { RunContext } from '../progress';
import { buildEmbeddingTower, type ModelConfig } from '../model/tower';
import { cosineClassifier } from '../model/layers';
import { BACKBONES } from '../model/backbones';
import { DENSENET121_NOTOP_URL, loadKerasWeights, resolveImagenetWeights, weightsCacheKey } from '../model/keras-weights';
import { loadFaceApiWeights } from '../model/face-api-weights';
import type { TrainConfig } from './config';

/** The class-centre layer's name: a head layer, so it trains in both phases. */
export const MARGIN_CLASSIFIER_LAYER = 'head_margin_classes';

export interface TrainingModels {
  tower: tf.LayersModel;
  /** The tower itself for the contrastive loss; tower + class cosines for the margin losses. */
  training: tf.LayersModel;
}

export function buildTrainingModels(modelConfig: ModelConfig, cfg: Pick<TrainConfig, 'loss' | 'seed'>, classes: number): TrainingModels {
  const tower = buildEmbeddingTower(modelConfig, { seed: cfg.seed });
  if (cfg.loss.kind !== 'cosface' && cfg.loss.kind !== 'arcface') return { tower, training: tower };
  if (classes < 2) throw new Error(`a ${cfg.loss.kind} loss needs at least 2 identities in the train split, got ${classes}`);
  // The class centres start random (glorot, seeded below) and are learned from phase 1 on.
  const cosines = cosineClassifier({ classes, name: MARGIN_CLASSIFIER_LAYER }).apply(tower.outputs[0]) as tf.SymbolicTensor;
  const training = tf.model({ inputs: tower.inputs, outputs: [tower.outputs[0], cosines], name: `${tower.name}_training` });
  seedClassifier(training, cfg.seed);
  return { tower, training };
}

/** Re-draws the class centres from the run's seed (the layer's initialiser drew from Math.random when it was built). */
function seedClassifier(training: tf.LayersModel, seed: number): void {
  const w = training.getLayer(MARGIN_CLASSIFIER_LAYER).weights[0];
  const [dim, classes] = w.shape as [number, number];
  const limit = Math.sqrt(6 / (dim + classes));
  tf.tidy(() => {
    w.write(tf.randomUniform([dim, classes], -limit, limit, 'float32', seed + 1));
  });
}

export interface InitialWeights {
  kind: TrainConfig['weights']['kind'];
  /** What was loaded (file, URL or package), for logs and the model card. */
  source: string | null;
}

/** Sets the tower's starting weights per `cfg.weights`; the head keeps its seeded init. */
export async function loadInitialWeights(tower: tf.LayersModel, modelConfig: ModelConfig, cfg: Pick<TrainConfig, 'weights'>, store: ObjectStore, ctx: RunContext): Promise<InitialWeights> {
  const w = cfg.weights;
  if (w.kind === 'none') return { kind: 'none', source: null };
  const pretrained = BACKBONES[modelConfig.backbone].pretrained;
  if (w.kind === 'pretrained' && pretrained === 'face-api') {
    const report = loadFaceApiWeights(tower);
    ctx.log('face-api.js pretrained weights loaded', { tensors: report.loaded, source: report.source });
    return { kind: 'pretrained', source: report.source };
  }
  const location = w.kind === 'imagenet' ? w.location : DENSENET121_NOTOP_URL;
  const h5 = await resolveImagenetWeights(location, store, weightsCacheKey(location), { signal: ctx.signal, log: ctx.log });
  const report = await loadKerasWeights(tower, h5, { layerFilter: (l) => !l.name.startsWith('head_') });
  ctx.log('imagenet weights loaded', { layers: report.loaded.length, values: report.values });
  return { kind: w.kind, source: location };
}
