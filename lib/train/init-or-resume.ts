/**
 * Where a training attempt starts: it takes the run's lease, builds the models and either resumes
 * the newest verified checkpoint of the run (same config hash: weights, best so far, step) or sets
 * the initial weights (and, for the margin losses, optionally the class centres).
 */
import * as tf from '@tensorflow/tfjs';
import type { RunContext } from '../progress';
import type { ObjectStore } from '../storage/object-store';
import type { BackendSelection } from '../model/backend';
import type { ModelConfig } from '../model/tower';
import { useNativeBatchNormTraining } from '../model/native-kernels';
import type { TrainConfig } from './config';
import { deleteCheckpoint, newestVerifiedCheckpoint, readCheckpointPointer, restoreCheckpointWeights, type BestSoFar, type PointerState, type VerifiedCheckpoint } from './checkpoint';
import { RunLease, type LeaseClaim } from './lease';
import { buildTrainingModels, loadInitialWeights, MARGIN_CLASSIFIER_LAYER, type InitialWeights, type TrainingModels } from './training-model';
import { classMeanCentres } from './class-centres';
import type { TrainingData } from './train-data';

/** Validation and class-centre batches: at least this many images. */
export const VAL_BATCH_MIN = 8;

/** A run this attempt holds the lease of: every write of the run calls `fence` first. */
export interface LeasedRun {
  store: ObjectStore;
  runId: string;
  lease: RunLease;
  fence: () => Promise<void>;
  /** The checkpoint pointer's ETag as this attempt last saw or wrote it. */
  pointer: PointerState;
}

export async function takeRunLease(store: ObjectStore, runId: string, claim: LeaseClaim, ctx: RunContext): Promise<LeasedRun> {
  const lease = await RunLease.take(store, runId, claim);
  const fence = () => lease.check();
  ctx.log('run lease taken', { runId, attempt: lease.lease.attempt, generation: lease.lease.generation });
  // Read after taking the lease: a writer that moves the pointer after this is superseded (its conditional write fails).
  const pointer: PointerState = { etag: (await readCheckpointPointer(store, runId))?.etag ?? null };
  return { store, runId, lease, fence, pointer };
}

export function buildModels(modelConfig: ModelConfig, cfg: TrainConfig, data: TrainingData, backend: BackendSelection): TrainingModels {
  const models = buildTrainingModels(modelConfig, cfg, data.identities.length);
  if (backend.backend === 'tensorflow') useNativeBatchNormTraining(models.tower);
  return models;
}

export interface StartPoint {
  /** The checkpoint resumed from, null on a fresh start. */
  ckpt: VerifiedCheckpoint | null;
  /** Steps already done. */
  step: number;
  best: BestSoFar | null;
  initialWeights: InitialWeights;
  /** Set when this attempt continues from a checkpoint. */
  resumedFromStep?: number;
}

export async function initOrResume(
  run: LeasedRun,
  training: { cfg: TrainConfig; configHash: string; modelConfig: ModelConfig; data: TrainingData; models: TrainingModels },
  ctx: RunContext,
): Promise<StartPoint> {
  const { store, runId } = run;
  const { cfg, configHash, modelConfig, data, models } = training;
  const ckpt: VerifiedCheckpoint | null = await newestVerifiedCheckpoint(store, runId, {
    configHash,
    // Torn (its files do not match its meta.json): fall back to the next-older one, and remove it
    // (pruning counts complete checkpoints, and a torn one would take the place of a good one).
    onSkip: async (torn, reason) => {
      ctx.log('skipping a checkpoint that fails its checks; resuming from an older one', { checkpoint: store.uri(torn.prefix), step: torn.meta.step, reason });
      await run.fence();
      await deleteCheckpoint(store, torn.prefix);
    },
  });
  let start: StartPoint;
  if (ckpt) {
    await restoreCheckpointWeights(store, ckpt, models.training);
    const step = ckpt.meta.step;
    const initialWeights = (ckpt.meta.initialWeights as InitialWeights | undefined) ?? { kind: cfg.weights.kind, source: null };
    ctx.log('resuming from checkpoint', { runId, step, checkpoint: store.uri(ckpt.prefix) });
    start = { ckpt, step, best: ckpt.meta.best, initialWeights, resumedFromStep: step };
  } else {
    const initialWeights = await loadInitialWeights(models.tower, modelConfig, cfg, store, ctx);
    if ((cfg.loss.kind === 'cosface' || cfg.loss.kind === 'arcface') && cfg.loss.centres === 'class-mean') await setClassMeanCentres(cfg, modelConfig, data, models, ctx);
    start = { ckpt: null, step: 0, best: null, initialWeights };
  }
  if (ctx.resumeFrom) ctx.log('previous attempt reported', { ...ctx.resumeFrom });
  return start;
}

async function setClassMeanCentres(cfg: TrainConfig, modelConfig: ModelConfig, data: TrainingData, models: TrainingModels, ctx: RunContext): Promise<void> {
  const centres = await classMeanCentres(models.tower, data.source, data.classOf, {
    imageSize: cfg.imageSize,
    normalization: data.normalization,
    batch: Math.max(VAL_BATCH_MIN, 2 * cfg.batchSize),
    signal: ctx.signal,
    onProgress: (done, total) => ctx.report({ stage: 'train', status: 'class centres', images: done, totalImages: total }),
  });
  tf.tidy(() => {
    models.training.getLayer(MARGIN_CLASSIFIER_LAYER).setWeights([tf.tensor2d(centres, [modelConfig.embeddingDim, data.identities.length])]);
  });
  ctx.log('class centres at the mean embedding of each identity', { classes: data.identities.length });
}
