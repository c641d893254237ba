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
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { SiamfaceError, badInput } from '../errors';
import { throwIfAborted, type RunContext } from '../progress';
import type { ObjectStore } from '../storage/object-store';
import { joinKey } from '../storage/uri';
import type { DatasetManifest } from '../data/dataset-manifest';
import { setBackboneTrainable, type ModelConfig } from '../model/tower';
import { selectBackend, type BackendSelection } from '../model/backend';
import { BACKBONES } from '../model/backbones';
import { redactDeep } from '../redact';
import { saveModelToStore } from '../model/io';
import { registerNativeTrainingKernels, useNativeBatchNormTraining } from '../model/native-kernels';
import { modelConfigOf, resolveTrainConfig, trainConfigHash, type TrainConfig, type TrainConfigInput } from './config';
import { PairBatchLoader, ShardImageSource, batchTensors, parsePairsCsv, type DataCursor, type LabelledPair, type PairBatch } from './data-loader';
import {
  deleteCheckpoint,
  newestVerifiedCheckpoint,
  readCheckpointPointer,
  restoreCheckpointOptimizer,
  restoreCheckpointWeights,
  saveCheckpoint,
  type BestSoFar,
  type PointerState,
  type VerifiedCheckpoint,
} from './checkpoint';
import { readBest, restoreBestWeights, saveBestWeights } from './best-weights';
import { planSteps, positionOf, type StepPlan } from './schedule';
import { RunLease, type LeaseClaim } from './lease';
import { modelPrefix, runJsonKey, stopRequestKey, SIAMFACE_MODEL_JSON, checkRunId } from './run-layout';
import { setLearningRate, trainStep, trainableVariables, type Objective, type StepBatch } from './siamese-step';
import { validatePairs } from './validate';
import { buildTrainingModels, loadInitialWeights, MARGIN_CLASSIFIER_LAYER, type InitialWeights } from './training-model';
import { classMeanCentres } from './class-centres';
import { TeacherTargets } from './teacher-embeddings';

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

interface RunJson {
  runId: string;
  datasetId: string;
  manifestKey: string;
  pairsKeys: TrainModelInput['pairsKeys'];
  configHash: string;
  config: TrainConfig;
  plan: StepPlan;
  status: 'running' | 'completed' | 'stopped';
  attempts: { startedAt: string; attempt: number; leaseGeneration: number; backend: string; backendDetail: string; resumedFromStep: number | null }[];
  result?: TrainModelResult;
  updatedAt: string;
}

const VAL_BATCH_MIN = 8;

export async function trainModel(store: ObjectStore, input: TrainModelInput, ctx: RunContext, opts: TrainModelOptions = {}): Promise<TrainModelResult> {
  const runId = checkRunId(input.runId);
  if (!input.pairsKeys?.train) throw badInput('trainModel: pairsKeys.train is required');
  const cfg = resolveTrainConfig(input.config ?? {});
  const backend = await (opts.selectBackend ?? ((p) => selectBackend(p, { log: ctx.log })))(cfg.backend);
  ctx.log('training backend', { backend: backend.backend, detail: backend.detail });
  // tfjs-node: TensorFlow's fused ReluGrad / FusedBatchNormGradV2 instead of tfjs's element-wise chains.
  if (backend.backend === 'tensorflow') registerNativeTrainingKernels();

  // --- data ---------------------------------------------------------------------------------
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
  const mKey = modelPrefix(runId);

  // A retry after the model was exported (the result was lost on the way back) returns it again.
  const done = await store.getJsonIfExists<SiamfaceModelJson>(joinKey(mKey, SIAMFACE_MODEL_JSON));
  if (done && done.value.training?.configHash === configHash) {
    ctx.log('model already exported for this run', { runId, modelKey: mKey });
    return done.value.result;
  }
  // From here on this attempt writes the run: only while it holds the lease.
  const lease = await RunLease.take(store, runId, opts.lease ?? { attempt: 1 });
  const fence = () => lease.check();
  ctx.log('run lease taken', { runId, attempt: lease.lease.attempt, generation: lease.lease.generation });
  // Read after taking the lease: a writer that moves the pointer after this is superseded (its conditional write fails).
  const pointer: PointerState = { etag: (await readCheckpointPointer(store, runId))?.etag ?? null };

  const modelConfig = modelConfigOf(cfg);
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

  // --- model, and where to start --------------------------------------------------------------
  const { tower: model, training: trainingModel } = buildTrainingModels(modelConfig, cfg, identities.length);
  if (backend.backend === 'tensorflow') useNativeBatchNormTraining(model);
  try {
    const ckpt: VerifiedCheckpoint | null = await newestVerifiedCheckpoint(store, runId, {
      configHash,
      // Torn (its files do not match its meta.json): fall back to the next-older one, and remove it
      // (pruning counts complete checkpoints, and a torn one would take the place of a good one).
      onSkip: async (torn, reason) => {
        ctx.log('skipping a checkpoint that fails its checks; resuming from an older one', { checkpoint: store.uri(torn.prefix), step: torn.meta.step, reason });
        await fence();
        await deleteCheckpoint(store, torn.prefix);
      },
    });
    let startStep = 0;
    let best: BestSoFar | null = null;
    let initialWeights: InitialWeights = { kind: cfg.weights.kind, source: null };
    if (ckpt) {
      await restoreCheckpointWeights(store, ckpt, trainingModel);
      startStep = ckpt.meta.step;
      best = ckpt.meta.best;
      initialWeights = (ckpt.meta.initialWeights as InitialWeights | undefined) ?? initialWeights;
      ctx.log('resuming from checkpoint', { runId, step: startStep, checkpoint: store.uri(ckpt.prefix) });
    } else {
      initialWeights = await loadInitialWeights(model, modelConfig, cfg, store, ctx);
      if ((cfg.loss.kind === 'cosface' || cfg.loss.kind === 'arcface') && cfg.loss.centres === 'class-mean') {
        const centres = await classMeanCentres(model, source, classOf, {
          imageSize: cfg.imageSize,
          normalization,
          batch: Math.max(VAL_BATCH_MIN, 2 * cfg.batchSize),
          signal: ctx.signal,
          onProgress: (done, total) => ctx.report({ stage: 'train', status: 'class centres', images: done, totalImages: total }),
        });
        tf.tidy(() => {
          trainingModel.getLayer(MARGIN_CLASSIFIER_LAYER).setWeights([tf.tensor2d(centres, [modelConfig.embeddingDim, identities.length])]);
        });
        ctx.log('class centres at the mean embedding of each identity', { classes: identities.length });
      }
    }
    const resumedFromStep = ckpt ? startStep : undefined;
    if (ctx.resumeFrom) ctx.log('previous attempt reported', { ...ctx.resumeFrom });
    await updateRunJson(store, runId, fence, (prev) => ({
      runId,
      datasetId: input.datasetId,
      manifestKey: input.manifestKey,
      pairsKeys: input.pairsKeys,
      configHash,
      config: redactDeep(cfg), // stored: a signed weights URL keeps no signature
      plan,
      status: 'running',
      attempts: [...(prev?.attempts ?? []), { startedAt: new Date().toISOString(), attempt: lease.lease.attempt, leaseGeneration: lease.lease.generation, backend: backend.backend, backendDetail: backend.detail, resumedFromStep: resumedFromStep ?? null }],
      updatedAt: new Date().toISOString(),
    }));

    // --- the loop -------------------------------------------------------------------------------
    const cursorOf = (step: number): DataCursor => ({ epoch: Math.floor(step / plan.stepsPerEpoch), index: step % plan.stepsPerEpoch });
    if (ckpt && (ckpt.meta.cursor.epoch !== cursorOf(startStep).epoch || ckpt.meta.cursor.index !== cursorOf(startStep).index)) {
      throw new SiamfaceError('bad_input', `${store.uri(ckpt.prefix)}: data cursor ${JSON.stringify(ckpt.meta.cursor)} does not match step ${startStep} of this plan`);
    }
    let opt: { optimizer: tf.AdamOptimizer; phase: 1 | 2; variables: tf.Variable[]; names: string[] } | null = null;
    let step = startStep;
    let lastLr: number | null = null;
    let lastValAuc: number | null = ckpt?.meta.metrics.valAuc ?? null;
    // The running loss of the current epoch continues across a resume.
    let epochLoss = ckpt?.meta.metrics.epochLossSum ?? 0;
    let epochSteps = ckpt?.meta.metrics.epochSteps ?? 0;
    let lastEpochLoss: number | null = ckpt?.meta.metrics.loss ?? null;
    let stoppedEarly = false;
    let validationPending = false;
    const recent: number[] = [];

    const ensureOptimizer = async (phase: 1 | 2) => {
      if (opt?.phase === phase) return;
      opt?.optimizer.dispose();
      setBackboneTrainable(trainingModel, phase === 2);
      const { variables, names } = trainableVariables(trainingModel);
      const optimizer = tf.train.adam(cfg.phase1.lr);
      opt = { optimizer, phase, variables, names };
      // The checkpoint's optimizer state belongs to its phase; a new phase starts a fresh Adam.
      if (ckpt?.meta.optimizer && ckpt.meta.optimizer.phase === phase && step === startStep) {
        await restoreCheckpointOptimizer(store, ckpt, optimizer, names);
      }
      ctx.log('phase', { phase, trainableVariables: variables.length, step });
    };

    const metrics = (): TrainMetrics => ({ loss: epochSteps ? epochLoss / epochSteps : lastEpochLoss, valAuc: lastValAuc, lr: lastLr });
    const checkpoint = async (why: string) => {
      const ref = await saveCheckpoint(store, {
        runId,
        step,
        epoch: cursorOf(step).epoch,
        phase: step < plan.phase1Steps ? 1 : 2,
        cursor: cursorOf(step),
        seed: cfg.seed,
        configHash,
        metrics: { ...metrics(), epochLossSum: epochLoss, epochSteps },
        best,
        validationPending,
        backend: backend.backend,
        model: trainingModel,
        initialWeights,
        optimizer: opt ? { optimizer: opt.optimizer, phase: opt.phase, variables: opt.names } : null,
        keep: cfg.keepCheckpoints,
        fence,
        writer: lease.lease.generation,
        pointer,
      });
      ctx.log('checkpoint', { why, step, key: store.uri(ref.prefix) });
    };
    const report = (extra: Record<string, unknown> = {}) => {
      const perStep = recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : 0;
      ctx.report({
        stage: 'train',
        phase: step < plan.phase1Steps ? 1 : 2,
        step,
        totalSteps: plan.totalSteps,
        epoch: cursorOf(Math.max(0, Math.min(step, plan.totalSteps - 1))).epoch,
        epochs: plan.epochs,
        loss: metrics().loss,
        lr: lastLr,
        valAuc: lastValAuc,
        imagesPerSec: perStep ? round((2 * cfg.batchSize) / (perStep / 1000)) : null,
        etaSec: perStep ? Math.round(((plan.totalSteps - step) * perStep) / 1000) : null,
        ...(resumedFromStep !== undefined ? { resumedFromStep } : {}),
        ...extra,
      });
    };

    /** Validation at the end of `epoch`, keeping the best weights; a cancelled validation is redone on resume. */
    const validateEpoch = async (epoch: number) => {
      validationPending = false;
      if (!valPairs.length) return;
      const v = await validatePairs(model, source, valPairs, { imageSize: cfg.imageSize, normalization }, Math.max(VAL_BATCH_MIN, 2 * cfg.batchSize), ctx.signal);
      if (!v.complete) {
        validationPending = true;
        return;
      }
      lastValAuc = v.auc;
      ctx.log('validation', { epoch, step, ...v });
      if (v.auc !== null && (!best || v.auc > best.valAuc)) {
        await saveBestWeights(store, runId, model, { step, epoch, valAuc: v.auc, configHash }, fence);
        best = { valAuc: v.auc, step };
      }
    };

    report({ status: ckpt ? 'resumed' : 'started' });
    if (ckpt?.meta.validationPending) await validateEpoch(cursorOf(startStep).epoch - 1);
    // Pretrained weights are a result already: validate them first, so the exported best weights are
    // never worse on validation than where fine-tuning started.
    if (!ckpt && initialWeights.kind !== 'none') await validateEpoch(-1);
    const batches = loader.batches(cursorOf(startStep), plan.totalSteps - startStep);
    try {
      while (step < plan.totalSteps) {
        if (ctx.signal.aborted) {
          await checkpoint('cancelled');
          throwIfAborted(ctx.signal);
        }
        if ((step - startStep) % cfg.stopCheckEverySteps === 0 && (await store.exists(stopRequestKey(runId, opts.stopScope)))) {
          stoppedEarly = true;
          break;
        }
        const pos = positionOf(cfg, plan, step);
        await ensureOptimizer(pos.phase);
        setLearningRate(opt!.optimizer, pos.lr);
        lastLr = pos.lr;
        const t0 = Date.now();
        const next = await batches.next();
        if (next.done) throw new Error(`data loader ended at step ${step} of ${plan.totalSteps}`);
        const tensors = stepTensors(next.value);
        let loss: number;
        try {
          loss = trainStep(trainingModel, opt!.optimizer, opt!.variables, tensors, objective);
        } finally {
          tf.dispose(Object.values(tensors));
        }
        if (!Number.isFinite(loss)) throw new SiamfaceError('bad_input', `loss is ${loss} at step ${step} (learning rate ${pos.lr}): training diverged`);
        step++;
        epochLoss += loss;
        epochSteps++;
        recent.push(Date.now() - t0);
        if (recent.length > 20) recent.shift();

        if (pos.endsEpoch) {
          await validateEpoch(pos.epoch);
          lastEpochLoss = epochSteps ? epochLoss / epochSteps : lastEpochLoss;
          await checkpoint('epoch end');
          report({ epochLoss: lastEpochLoss });
          epochLoss = 0;
          epochSteps = 0;
        } else if (step % cfg.checkpointEverySteps === 0) {
          await checkpoint('every N steps');
          report();
        } else {
          report();
        }
        // A ready prefetch never yields to timers, so steps would chain into one event-loop block and starve the
        // timer heartbeats (bench/heartbeat-lag); a timer turn per step lets any due heartbeat out first.
        await new Promise((r) => setTimeout(r, 0));
      }
      if (stoppedEarly) {
        ctx.log('stop requested', { runId, step });
        await checkpoint('stop requested');
      }
    } finally {
      await batches.return(undefined);
      (opt as { optimizer: tf.AdamOptimizer } | null)?.optimizer.dispose();
    }

    // --- export -----------------------------------------------------------------------------------
    const useBest = (stoppedEarly || cfg.finalWeights === 'best') && best !== null;
    const bestMeta = useBest ? await readBest(store, runId) : null;
    let exported: TrainModelResult['exported'] = { weights: 'last', step };
    if (bestMeta && bestMeta.configHash === configHash) {
      await restoreBestWeights(store, bestMeta, model);
      exported = { weights: 'best', step: bestMeta.step };
    }
    const result: TrainModelResult = {
      runId,
      modelKey: mKey,
      steps: step,
      totalSteps: plan.totalSteps,
      epochs: cursorOf(Math.max(step - 1, 0)).epoch + (step > 0 ? 1 : 0),
      finalMetrics: metrics(),
      bestValAuc: best?.valAuc ?? null,
      bestStep: best?.step ?? null,
      exported,
      backend: backend.backend,
      configHash,
      ...(resumedFromStep !== undefined ? { resumedFromStep } : {}),
      stoppedEarly,
    };
    const sidecar: SiamfaceModelJson = {
      format: 'siamface-model',
      version: 1,
      runId,
      datasetId: input.datasetId,
      model: modelConfig,
      preprocessing: {
        inputSize: cfg.imageSize,
        crop: manifest.cropApplied ?? manifest.config?.crop ?? 'centre',
        datasetImageSize: manifest.config.imageSize,
        channels: 'RGB',
        layout: 'NHWC',
        scale: 1 / 255,
        mean: normalization.mean,
        std: normalization.std,
      },
      distance: 'euclidean',
      loss: { ...cfg.loss, contrastiveMargin: cfg.margin },
      teacher: cfg.teacher && teacher ? { ...cfg.teacher, teacherId: teacher.teacherId } : null,
      initialWeights,
      backend: { backend: backend.backend, detail: backend.detail, native: backend.native, gpu: backend.gpu },
      training: { config: redactDeep(cfg), configHash, plan, manifestKey: input.manifestKey, pairsKeys: input.pairsKeys },
      result,
      createdAt: new Date().toISOString(),
    };
    await fence();
    await saveModelToStore(model, store, mKey, { metadata: { siamface: { runId, configHash, inputSize: cfg.imageSize, exported } } });
    await fence();
    await store.putJson(joinKey(mKey, SIAMFACE_MODEL_JSON), sidecar);
    await updateRunJson(store, runId, fence, (prev) => ({ ...(prev as RunJson), status: stoppedEarly ? 'stopped' : 'completed', result, updatedAt: new Date().toISOString() }));
    report({ status: stoppedEarly ? 'stopped' : 'completed' });
    return result;
  } finally {
    // The training model holds every tower layer (and the class centres): disposing it frees them all.
    trainingModel.dispose();
    source.clear();
  }
}

const RUN_JSON_TRIES = 5;

/** Read-modify-write of run.json, conditional on the ETag read (and on holding the lease), so no update is lost. */
async function updateRunJson(store: ObjectStore, runId: string, fence: () => Promise<void>, update: (prev: RunJson | null) => RunJson): Promise<void> {
  const key = runJsonKey(runId);
  for (let i = 0; i < RUN_JSON_TRIES; i++) {
    const prev = await store.getJsonIfExists<RunJson>(key);
    await fence();
    try {
      await store.putJson(key, update(prev?.value ?? null), prev ? { ifMatch: prev.etag } : { ifNoneMatch: '*' });
      return;
    } catch (err) {
      if (!(err instanceof SiamfaceError && err.code === 'precondition_failed')) throw err;
    }
  }
  throw new SiamfaceError('transient', `${store.uri(key)}: changed under every one of ${RUN_JSON_TRIES} updates`, { permanent: false });
}

const round = (x: number) => Math.round(x * 10) / 10;
