/**
 * Stage 4: train the Siamese tower on a dataset's shards and pairs.
 *
 * - Phase 1 trains the head with the backbone frozen, phase 2 all layers at a lower learning rate;
 *   Adam with per-phase warm-up + cosine. Objective (lib/train/siamese-step): contrastive loss on the
 *   Euclidean distance, or CosFace/ArcFace over the train split's identities (optionally plus the pair
 *   loss), plus distillation from a face-pretrained teacher's stored embeddings when one is configured.
 * - Validation ROC AUC at each epoch end; the best-AUC weights are kept under runs/<run>/best/.
 * - Checkpoints every N steps, at each epoch end, on cancellation and on a stop request. On start
 *   the newest complete checkpoint of the run (same config hash) is resumed: same weights, optimizer
 *   state, step counter and data cursor, so the run continues as if never interrupted.
 * - Stop request: an object at runs/<run>/control/stop-requested (-<scope> when a pipeline's workflow run
 *   asked, see stopScope) makes the run checkpoint, export its best weights and return normally with stoppedEarly.
 * - Output: runs/<run>/model/ (tfjs model.json + weights.bin) and runs/<run>/model/siamface-model.json
 *   (written last: config, preprocessing, backend, training summary).
 */
import { badInput } from '../errors';
import type { RunContext } from '../progress';
import type { ObjectStore } from '../storage/object-store';
import type { ModelConfig } from '../model/tower';
import { selectBackend, type BackendSelection } from '../model/backend';
import { registerNativeTrainingKernels } from '../model/native-kernels';
import { modelConfigOf, resolveTrainConfig, type TrainConfig, type TrainConfigInput } from './config';
import type { StepPlan } from './schedule';
import type { LeaseClaim } from './lease';
import { modelPrefix, modelSidecarKey, checkRunId } from './run-layout';
import type { InitialWeights } from './training-model';
import { openTrainingData, readTrainingInputs } from './train-data';
import { buildModels, initOrResume, takeRunLease } from './init-or-resume';
import { recordAttemptStart } from './run-record';
import { runSteps } from './step-loop';
import { exportModel } from './export-model';

export interface TrainModelInput {
  runId: string;
  datasetId: string;
  /** Pairs CSV keys (from generatePairs); val is optional (no validation without it). */
  pairsKeys: { train: string; val?: string; test?: string };
  manifestKey: string;
  config?: TrainConfigInput;
}

export interface TrainMetrics {
  /** Mean loss over the last epoch's steps (or the steps run since the last epoch end). */
  loss: number | null;
  valAuc: number | null;
  lr: number | null;
}

export interface TrainModelResult {
  runId: string;
  /** Prefix of the exported model (tfjs model.json + weights.bin + siamface-model.json). */
  modelKey: string;
  steps: number;
  totalSteps: number;
  epochs: number;
  finalMetrics: TrainMetrics;
  bestValAuc: number | null;
  bestStep: number | null;
  /** Which weights were exported and from which step. */
  exported: { weights: 'best' | 'last'; step: number };
  backend: string;
  configHash: string;
  /** Present when this attempt continued from a checkpoint. */
  resumedFromStep?: number;
  stoppedEarly: boolean;
}

/** The sidecar written next to the tfjs model; what serving and evaluation need to use it. */
export interface SiamfaceModelJson {
  format: 'siamface-model';
  version: 1;
  runId: string;
  datasetId: string;
  model: ModelConfig;
  preprocessing: {
    inputSize: number;
    /** How the shards cropped faces before resizing. */
    crop: string;
    /** Side of the dataset's prepared images (shards), which are then resized to inputSize. */
    datasetImageSize: number;
    channels: 'RGB';
    layout: 'NHWC';
    /** x' = (x / 255 - mean) / std per channel */
    scale: number;
    mean: readonly number[];
    std: readonly number[];
  };
  distance: 'euclidean';
  loss: TrainConfig['loss'] & { contrastiveMargin: number };
  teacher: (NonNullable<TrainConfig['teacher']> & { teacherId: string }) | null;
  initialWeights: InitialWeights;
  backend: { backend: string; detail: string; native: boolean; gpu: boolean };
  training: { config: TrainConfig; configHash: string; plan: StepPlan; manifestKey: string; pairsKeys: TrainModelInput['pairsKeys'] };
  result: TrainModelResult;
  createdAt: string;
}

export interface TrainModelOptions {
  /** Backend selection (default lib/model selectBackend with the config's preference). */
  selectBackend?: (preference: TrainConfig['backend']) => Promise<BackendSelection>;
  /** Honour only stop requests of this scope (the pipeline's workflow run): an earlier run's request never stops a resume. */
  stopScope?: string;
  /** Which attempt this is, for the run's lease (default attempt 1, no scope: takes over any holder). */
  lease?: LeaseClaim;
}

export async function trainModel(store: ObjectStore, input: TrainModelInput, ctx: RunContext, opts: TrainModelOptions = {}): Promise<TrainModelResult> {
  const runId = checkRunId(input.runId);
  if (!input.pairsKeys?.train) throw badInput('trainModel: pairsKeys.train is required');
  const cfg = resolveTrainConfig(input.config ?? {});
  const backend = await (opts.selectBackend ?? ((p) => selectBackend(p, { log: ctx.log })))(cfg.backend);
  ctx.log('training backend', { backend: backend.backend, detail: backend.detail });
  // tfjs-node: TensorFlow's fused ReluGrad / FusedBatchNormGradV2 instead of tfjs's element-wise chains.
  if (backend.backend === 'tensorflow') registerNativeTrainingKernels();

  const inputs = await readTrainingInputs(store, input, cfg);
  const { configHash } = inputs;
  // A retry after the model was exported (the result was lost on the way back) returns it again.
  const mKey = modelPrefix(runId);
  const done = await store.getJsonIfExists<SiamfaceModelJson>(modelSidecarKey(mKey));
  if (done && done.value.training?.configHash === configHash) {
    ctx.log('model already exported for this run', { runId, modelKey: mKey });
    return done.value.result;
  }
  // From here on this attempt writes the run: only while it holds the lease.
  const run = await takeRunLease(store, runId, opts.lease ?? { attempt: 1 }, ctx);
  const modelConfig = modelConfigOf(cfg);
  const data = await openTrainingData(store, input, inputs, cfg, modelConfig, ctx);
  const models = buildModels(modelConfig, cfg, data, backend);
  try {
    const start = await initOrResume(run, { cfg, configHash, modelConfig, data, models }, ctx);
    await recordAttemptStart(run, input, { cfg, configHash, plan: data.plan, backend, resumedFromStep: start.resumedFromStep });
    const state = await runSteps({ run, cfg, configHash, backend, data, models, start, ctx, stopScope: opts.stopScope });
    const result = await exportModel({ run, input, cfg, configHash, manifest: inputs.manifest, modelConfig, backend, data, models, start }, state);
    state.report({ status: result.stoppedEarly ? 'stopped' : 'completed' });
    return result;
  } finally {
    // The training model holds every tower layer (and the class centres): disposing it frees them all.
    models.training.dispose();
    data.source.clear();
  }
}
