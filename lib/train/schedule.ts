/**
 * Learning-rate schedule and the step plan of a run. A run is a fixed sequence of global steps:
 * phase 1 (backbone frozen) then phase 2 (all layers); epochs cut the same sequence into passes
 * over the train pairs. Everything here is a pure function of the step, so a resumed run
 * computes exactly what an uninterrupted one would.
 */
import type { TrainConfig } from './config';
import type { DataCursor } from './data-loader';

/**
 * Linear warm-up from lr/warmupSteps to lr over `warmupSteps`, then cosine decay to
 * lr x minLrFraction at the last step of the phase. `step` counts from 0 within the phase.
 */
export function warmupCosineLr(step: number, totalSteps: number, lr: number, warmupSteps: number, minLrFraction: number): number {
  if (totalSteps <= 0) return lr;
  const warm = Math.min(warmupSteps, Math.max(totalSteps - 1, 0));
  if (step < warm) return (lr * (step + 1)) / warm;
  const decaySteps = totalSteps - warm;
  const t = decaySteps <= 1 ? 0 : Math.min(1, (step - warm) / (decaySteps - 1));
  const floor = lr * minLrFraction;
  return floor + (lr - floor) * 0.5 * (1 + Math.cos(Math.PI * t));
}

export interface StepPlan {
  stepsPerEpoch: number;
  phase1Steps: number;
  phase2Steps: number;
  totalSteps: number;
  /** Epochs the plan spans (the last one may be partial when a phase is given in steps). */
  epochs: number;
}

/** Steps of each phase from the config and the number of train pairs (partial batches are dropped). */
export function planSteps(cfg: TrainConfig, trainPairs: number): StepPlan {
  const full = Math.floor(trainPairs / cfg.batchSize);
  const stepsPerEpoch = Math.max(1, Math.min(full, cfg.stepsPerEpoch ?? Infinity));
  const phaseSteps = (p: TrainConfig['phase1']) => p.steps ?? (p.epochs ?? 0) * stepsPerEpoch;
  const phase1Steps = phaseSteps(cfg.phase1);
  const phase2Steps = phaseSteps(cfg.phase2);
  const totalSteps = phase1Steps + phase2Steps;
  return { stepsPerEpoch, phase1Steps, phase2Steps, totalSteps, epochs: Math.ceil(totalSteps / stepsPerEpoch) };
}

export interface StepPosition {
  /** 1 (head only) or 2 (all layers). */
  phase: 1 | 2;
  /** Step within its phase, from 0. */
  phaseStep: number;
  epoch: number;
  /** Batch index within the epoch. */
  index: number;
  lr: number;
  /** This step completes an epoch. */
  endsEpoch: boolean;
}

/** Where global step `step` (from 0) falls: phase, epoch, batch index and learning rate. */
export function positionOf(cfg: TrainConfig, plan: StepPlan, step: number): StepPosition {
  const inPhase1 = step < plan.phase1Steps;
  const phase = inPhase1 ? 1 : 2;
  const phaseStep = inPhase1 ? step : step - plan.phase1Steps;
  const phaseTotal = inPhase1 ? plan.phase1Steps : plan.phase2Steps;
  const p = inPhase1 ? cfg.phase1 : cfg.phase2;
  return {
    phase,
    phaseStep,
    epoch: Math.floor(step / plan.stepsPerEpoch),
    index: step % plan.stepsPerEpoch,
    lr: warmupCosineLr(phaseStep, phaseTotal, p.lr, cfg.warmupSteps, cfg.minLrFraction),
    endsEpoch: (step + 1) % plan.stepsPerEpoch === 0 || step + 1 === plan.totalSteps,
  };
}

/** The data cursor of global step `step`: the epoch it falls in and its batch index there. */
export function cursorOf(plan: StepPlan, step: number): DataCursor {
  return { epoch: Math.floor(step / plan.stepsPerEpoch), index: step % plan.stepsPerEpoch };
}
