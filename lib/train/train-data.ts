/**
 * What a training run reads: the dataset manifest, the train and val pairs (and the config hash they
 * go into), then the shard image source, the step plan, the batch loader and the per-step tensors
 * of the objective (class ids for the margin losses, teacher targets for distillation).
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { badInput } from '../errors';
import type { RunContext } from '../progress';
import type { ObjectStore } from '../storage/object-store';
import type { DatasetManifest } from '../data/dataset-manifest';
import type { ModelConfig } from '../model/tower';
import { BACKBONES } from '../model/backbones';
import type { Normalization } from '../model/preprocess';
import { trainConfigHash, type TrainConfig } from './config';
import { PairBatchLoader, ShardImageSource, batchTensors, parsePairsCsv, type LabelledPair, type PairBatch } from './data-loader';
import { planSteps, type StepPlan } from './schedule';
import type { Objective, StepBatch } from './siamese-step';
import { TeacherTargets } from './teacher-embeddings';
import type { TrainModelInput } from './train-model';

/** The run's inputs as read from the store, and the config hash that names them. */
export interface TrainingInputs {
  manifest: DatasetManifest;
  trainPairs: LabelledPair[];
  /** Empty without val pairs (or with valPairsLimit 0): no validation. */
  valPairs: LabelledPair[];
  configHash: string;
}

export async function readTrainingInputs(store: ObjectStore, input: TrainModelInput, cfg: TrainConfig): Promise<TrainingInputs> {
  const manifest = await store.getJson<DatasetManifest>(input.manifestKey);
  const trainText = (await store.getBuffer(input.pairsKeys.train)).toString('utf8');
  const trainPairs = parsePairsCsv(trainText, store.uri(input.pairsKeys.train));
  let valPairs: LabelledPair[] = [];
  let valSha = '';
  if (input.pairsKeys.val && cfg.valPairsLimit > 0) {
    const text = (await store.getBuffer(input.pairsKeys.val)).toString('utf8');
    valSha = createHash('sha256').update(text).digest('hex');
    valPairs = parsePairsCsv(text, store.uri(input.pairsKeys.val)).slice(0, cfg.valPairsLimit);
  }
  const configHash = trainConfigHash(cfg, {
    datasetId: input.datasetId,
    manifest: manifest.configHash,
    train: createHash('sha256').update(trainText).digest('hex'),
    val: valSha,
  });
  return { manifest, trainPairs, valPairs, configHash };
}

export interface TrainingData {
  source: ShardImageSource;
  valPairs: LabelledPair[];
  normalization: Normalization;
  plan: StepPlan;
  loader: PairBatchLoader;
  /** The train split's identities: one margin-loss class each. */
  identities: string[];
  classOf: Map<string, number>;
  teacher: TeacherTargets | null;
  objective: Objective;
  /** The tensors of one step's batch; the caller disposes them. */
  stepTensors(batch: PairBatch): StepBatch;
}

export async function openTrainingData(store: ObjectStore, input: TrainModelInput, inputs: TrainingInputs, cfg: TrainConfig, modelConfig: ModelConfig, ctx: RunContext): Promise<TrainingData> {
  const { manifest, trainPairs, valPairs } = inputs;
  const normalization = BACKBONES[modelConfig.backbone].normalization;
  const source = await ShardImageSource.open(store, input.manifestKey, {
    imageSize: cfg.imageSize,
    decodedCacheImages: cfg.decodedCacheImages,
    shardCacheBytes: cfg.shardCacheBytes,
  });
  source.checkPairs(trainPairs, store.uri(input.pairsKeys.train));
  if (valPairs.length) source.checkPairs(valPairs, store.uri(input.pairsKeys.val!));
  const plan = planSteps(cfg, trainPairs.length);
  // No steps at all is allowed from pretrained weights: the run exports them as they are (a baseline to compare fine-tuning with).
  if (plan.totalSteps === 0 && cfg.weights.kind === 'none') throw badInput('train config: phase1 and phase2 together have no steps (with random weights there is nothing to export)');
  const loader = new PairBatchLoader(source, trainPairs, {
    batchSize: cfg.batchSize,
    imageSize: cfg.imageSize,
    seed: cfg.seed,
    augment: cfg.augment,
    normalization,
    stepsPerEpoch: plan.stepsPerEpoch,
    prefetch: cfg.prefetch,
  });
  // Margin losses: one class per identity of the train split.
  const identities = source.identitiesOf('train');
  const classOf = new Map(identities.map((id, i) => [id, i]));
  const teacher = cfg.teacher ? await TeacherTargets.load(store, manifest, cfg.teacher) : null;
  if (teacher) ctx.log('teacher embeddings loaded', { teacher: cfg.teacher!.backbone, teacherId: teacher.teacherId, images: teacher.size });
  const objective: Objective = { loss: cfg.loss, contrastiveMargin: cfg.margin, teacherWeight: cfg.teacher?.weight ?? null };
  const stepTensors = (batch: PairBatch): StepBatch => {
    const { images, labels } = batchTensors(batch, cfg.imageSize);
    const margin = cfg.loss.kind === 'cosface' || cfg.loss.kind === 'arcface';
    return {
      images,
      labels,
      ...(margin ? { classes: tf.tensor1d(batch.ids.map((id) => classOf.get(source.identityOf(id))!), 'int32') } : {}),
      ...(teacher ? { teacher: teacher.batch(batch.ids, batch.flips) } : {}),
    };
  };
  return { source, valPairs, normalization, plan, loader, identities, classOf, teacher, objective, stepTensors };
}
