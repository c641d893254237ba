/**
 * The training steps of one attempt, from its start point to the plan's end or a stop request:
 * per-step phase and learning rate, progress reports (heartbeats), checkpoints every N steps, at
 * each epoch end, on cancellation and on a stop request, and validation at each epoch end (keeping
 * the best weights).
 */
import * as tf from '@tensorflow/tfjs';
import { SiamfaceError } from '../errors';
import { throwIfAborted, type RunContext } from '../progress';
import type { BackendSelection } from '../model/backend';
import { setBackboneTrainable } from '../model/tower';
import type { TrainConfig } from './config';
import { restoreCheckpointOptimizer, saveCheckpoint, type BestSoFar } from './checkpoint';
import { saveBestWeights } from './best-weights';
import { cursorOf, positionOf, type StepPlan } from './schedule';
import { stopRequestKey } from './run-layout';
import { setLearningRate, trainStep, trainableVariables } from './siamese-step';
import { FlatAdamOptimizer } from './flat-adam';
import { validatePairs } from './validate';
import type { TrainingModels } from './training-model';
import type { TrainingData } from './train-data';
import { VAL_BATCH_MIN, type LeasedRun, type StartPoint } from './init-or-resume';
import type { TrainMetrics } from './train-model';

export interface StepLoopContext {
  run: LeasedRun;
  cfg: TrainConfig;
  configHash: string;
  backend: BackendSelection;
  data: TrainingData;
  models: TrainingModels;
  start: StartPoint;
  ctx: RunContext;
  /** Honour only stop requests of this scope. */
  stopScope?: string;
}

/** The counters a run carries from step to step (and, through checkpoints, across attempts). */
export class TrainingState {
  step: number;
  lastLr: number | null = null;
  lastValAuc: number | null;
  // The running loss of the current epoch continues across a resume.
  epochLoss: number;
  epochSteps: number;
  lastEpochLoss: number | null;
  best: BestSoFar | null;
  validationPending = false;
  stoppedEarly = false;
  /** Durations of the last steps (ms), for the throughput and ETA in reports. */
  private readonly recent: number[] = [];

  constructor(
    private readonly plan: StepPlan,
    private readonly batchSize: number,
    private readonly ctx: RunContext,
    private readonly start: StartPoint,
  ) {
    const m = start.ckpt?.meta.metrics;
    this.step = start.step;
    this.lastValAuc = m?.valAuc ?? null;
    this.epochLoss = m?.epochLossSum ?? 0;
    this.epochSteps = m?.epochSteps ?? 0;
    this.lastEpochLoss = m?.loss ?? null;
    this.best = start.best;
  }

  metrics(): TrainMetrics {
    return { loss: this.epochSteps ? this.epochLoss / this.epochSteps : this.lastEpochLoss, valAuc: this.lastValAuc, lr: this.lastLr };
  }

  recordStepTime(ms: number): void {
    this.recent.push(ms);
    if (this.recent.length > 20) this.recent.shift();
  }

  report(extra: Record<string, unknown> = {}): void {
    const { plan, step, recent } = this;
    const perStep = recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : 0;
    this.ctx.report({
      stage: 'train',
      phase: step < plan.phase1Steps ? 1 : 2,
      step,
      totalSteps: plan.totalSteps,
      epoch: cursorOf(plan, Math.max(0, Math.min(step, plan.totalSteps - 1))).epoch,
      epochs: plan.epochs,
      loss: this.metrics().loss,
      lr: this.lastLr,
      valAuc: this.lastValAuc,
      imagesPerSec: perStep ? round((2 * this.batchSize) / (perStep / 1000)) : null,
      etaSec: perStep ? Math.round(((plan.totalSteps - step) * perStep) / 1000) : null,
      ...(this.start.resumedFromStep !== undefined ? { resumedFromStep: this.start.resumedFromStep } : {}),
      ...extra,
    });
  }
}

interface PhaseOptimizer {
  optimizer: tf.AdamOptimizer;
  phase: 1 | 2;
  variables: tf.Variable[];
  names: string[];
}

/** Runs the steps; returns the state at the end (plan done, or stoppedEarly after a stop request). Throws when cancelled, after a checkpoint. */
export async function runSteps(loop: StepLoopContext): Promise<TrainingState> {
  const { run, cfg, configHash, backend, data, models, start, ctx } = loop;
  const { store, runId, fence } = run;
  const { plan, source, valPairs, normalization } = data;
  const { tower: model, training: trainingModel } = models;
  const { ckpt } = start;
  const startStep = start.step;
  if (ckpt && (ckpt.meta.cursor.epoch !== cursorOf(plan, startStep).epoch || ckpt.meta.cursor.index !== cursorOf(plan, startStep).index)) {
    throw new SiamfaceError('bad_input', `${store.uri(ckpt.prefix)}: data cursor ${JSON.stringify(ckpt.meta.cursor)} does not match step ${startStep} of this plan`);
  }
  const state = new TrainingState(plan, cfg.batchSize, ctx, start);
  let opt: PhaseOptimizer | null = null;

  const ensureOptimizer = async (phase: 1 | 2) => {
    if (opt?.phase === phase) return;
    opt?.optimizer.dispose();
    setBackboneTrainable(trainingModel, phase === 2);
    const { variables, names } = trainableVariables(trainingModel);
    const optimizer = new FlatAdamOptimizer(cfg.phase1.lr);
    opt = { optimizer, phase, variables, names };
    // The checkpoint's optimizer state belongs to its phase; a new phase starts a fresh Adam.
    if (ckpt?.meta.optimizer && ckpt.meta.optimizer.phase === phase && state.step === startStep) {
      await restoreCheckpointOptimizer(store, ckpt, optimizer, names);
    }
    ctx.log('phase', { phase, trainableVariables: variables.length, step: state.step });
  };

  const checkpoint = async (why: string) => {
    const { step } = state;
    const ref = await saveCheckpoint(store, {
      runId,
      step,
      epoch: cursorOf(plan, step).epoch,
      phase: step < plan.phase1Steps ? 1 : 2,
      cursor: cursorOf(plan, step),
      seed: cfg.seed,
      configHash,
      metrics: { ...state.metrics(), epochLossSum: state.epochLoss, epochSteps: state.epochSteps },
      best: state.best,
      validationPending: state.validationPending,
      backend: backend.backend,
      model: trainingModel,
      initialWeights: start.initialWeights,
      optimizer: opt ? { optimizer: opt.optimizer, phase: opt.phase, variables: opt.names } : null,
      keep: cfg.keepCheckpoints,
      fence,
      writer: run.lease.lease.generation,
      pointer: run.pointer,
    });
    ctx.log('checkpoint', { why, step, key: store.uri(ref.prefix) });
  };

  /** Validation at the end of `epoch`, keeping the best weights; a cancelled validation is redone on resume. */
  const validateEpoch = async (epoch: number) => {
    state.validationPending = false;
    if (!valPairs.length) return;
    const v = await validatePairs(model, source, valPairs, { imageSize: cfg.imageSize, normalization }, Math.max(VAL_BATCH_MIN, 2 * cfg.batchSize), ctx.signal);
    if (!v.complete) {
      state.validationPending = true;
      return;
    }
    state.lastValAuc = v.auc;
    const { step } = state;
    ctx.log('validation', { epoch, step, ...v });
    if (v.auc !== null && (!state.best || v.auc > state.best.valAuc)) {
      await saveBestWeights(store, runId, model, { step, epoch, valAuc: v.auc, configHash }, fence);
      state.best = { valAuc: v.auc, step };
    }
  };

  state.report({ status: ckpt ? 'resumed' : 'started' });
  if (ckpt?.meta.validationPending) await validateEpoch(cursorOf(plan, startStep).epoch - 1);
  // Pretrained weights are a result already: validate them first, so the exported best weights are
  // never worse on validation than where fine-tuning started.
  if (!ckpt && start.initialWeights.kind !== 'none') await validateEpoch(-1);
  const batches = data.loader.batches(cursorOf(plan, startStep), plan.totalSteps - startStep);
  try {
    while (state.step < plan.totalSteps) {
      if (ctx.signal.aborted) {
        await checkpoint('cancelled');
        throwIfAborted(ctx.signal);
      }
      if ((state.step - startStep) % cfg.stopCheckEverySteps === 0 && (await store.exists(stopRequestKey(runId, loop.stopScope)))) {
        state.stoppedEarly = true;
        break;
      }
      const pos = positionOf(cfg, plan, state.step);
      await ensureOptimizer(pos.phase);
      setLearningRate(opt!.optimizer, pos.lr);
      state.lastLr = pos.lr;
      const t0 = Date.now();
      const next = await batches.next();
      if (next.done) throw new Error(`data loader ended at step ${state.step} of ${plan.totalSteps}`);
      const tensors = data.stepTensors(next.value);
      let loss: number;
      try {
        loss = trainStep(trainingModel, opt!.optimizer, opt!.variables, tensors, data.objective);
      } finally {
        tf.dispose(Object.values(tensors));
      }
      if (!Number.isFinite(loss)) throw new SiamfaceError('bad_input', `loss is ${loss} at step ${state.step} (learning rate ${pos.lr}): training diverged`);
      state.step++;
      state.epochLoss += loss;
      state.epochSteps++;
      state.recordStepTime(Date.now() - t0);

      if (pos.endsEpoch) {
        await validateEpoch(pos.epoch);
        state.lastEpochLoss = state.epochSteps ? state.epochLoss / state.epochSteps : state.lastEpochLoss;
        await checkpoint('epoch end');
        state.report({ epochLoss: state.lastEpochLoss });
        state.epochLoss = 0;
        state.epochSteps = 0;
      } else if (state.step % cfg.checkpointEverySteps === 0) {
        await checkpoint('every N steps');
        state.report();
      } else {
        state.report();
      }
      // A ready prefetch never yields to timers, so steps would chain into one event-loop block and starve the
      // timer heartbeats (bench/heartbeat-lag); a timer turn per step lets any due heartbeat out first.
      await new Promise((r) => setTimeout(r, 0));
    }
    if (state.stoppedEarly) {
      ctx.log('stop requested', { runId, step: state.step });
      await checkpoint('stop requested');
    }
  } finally {
    await batches.return(undefined);
    (opt as PhaseOptimizer | null)?.optimizer.dispose();
  }
  return state;
}

const round = (x: number) => Math.round(x * 10) / 10;
