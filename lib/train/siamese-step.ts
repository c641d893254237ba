/**
 * One training step of the Siamese tower, and validation. Both images of every pair go through
 * the same tower in one call (the batch is [a images; b images]), so the weights are shared by
 * construction and batch-norm sees one batch.
 */
import * as tf from '@tensorflow/tfjs';
import { contrastiveLoss, cosineDistillationLoss, marginSoftmaxLoss } from '../model/losses';
import { euclideanDistance } from '../model/distance';
import { rocAuc } from '../eval/metrics';
import type { LossConfig } from './config';

/** What a training step minimises: the configured loss, plus distillation when a teacher is set. */
export interface Objective {
  loss: LossConfig;
  /** Margin of the contrastive pair loss. */
  contrastiveMargin: number;
  /** Weight of the distillation term, or null without a teacher. */
  teacherWeight: number | null;
}

export const contrastiveObjective = (margin: number): Objective => ({ loss: { kind: 'contrastive' }, contrastiveMargin: margin, teacherWeight: null });

/** One step's tensors. Images are [2B, S, S, 3] (a's then b's); classes and teacher follow the same order. */
export interface StepBatch {
  images: tf.Tensor4D;
  /** Pair labels [B]: 1 same, 0 different. */
  labels: tf.Tensor1D;
  /** Identity class of each image [2B] (int32): margin losses. */
  classes?: tf.Tensor1D;
  /** Teacher embedding of each image [2B, D]: distillation. */
  teacher?: tf.Tensor2D;
}

/** The tf.Variables behind the model's currently trainable weights, in model order. */
export function trainableVariables(model: tf.LayersModel): { variables: tf.Variable[]; names: string[] } {
  const weights = model.trainableWeights;
  // LayerVariable keeps its tf.Variable in a protected field; the optimizer needs the Variable itself.
  return { variables: weights.map((w) => (w as unknown as { val: tf.Variable }).val), names: weights.map((w) => w.originalName) };
}

/** Contrastive loss of a batch: images [2B, S, S, 3] (a's then b's), labels [B]. */
export function siameseLoss(model: tf.LayersModel, images: tf.Tensor4D, labels: tf.Tensor1D, margin: number, training: boolean): tf.Scalar {
  return tf.tidy(() => {
    const n = labels.shape[0];
    const emb = model.apply(images, { training }) as tf.Tensor2D;
    const [ea, eb] = tf.split(emb, [n, n], 0) as [tf.Tensor2D, tf.Tensor2D];
    return contrastiveLoss(labels, euclideanDistance(ea, eb), margin);
  });
}

/** Sets the learning rate an Adam optimizer uses for its next step. */
export function setLearningRate(optimizer: tf.AdamOptimizer, lr: number): void {
  (optimizer as unknown as { learningRate: number }).learningRate = lr;
}

/**
 * The total loss of a batch. `model` is the tower, or the training model whose second output is
 * the margin losses' class cosines ([2B, C]).
 */
export function objectiveLoss(model: tf.LayersModel, batch: StepBatch, objective: Objective, training: boolean): tf.Scalar {
  return tf.tidy(() => {
    const out = model.apply(batch.images, { training }) as tf.Tensor | tf.Tensor[];
    const [emb, cosines] = (Array.isArray(out) ? out : [out]) as [tf.Tensor2D, tf.Tensor2D | undefined];
    const n = batch.labels.shape[0];
    const pairLoss = () => {
      const [ea, eb] = tf.split(emb, [n, n], 0) as [tf.Tensor2D, tf.Tensor2D];
      return contrastiveLoss(batch.labels, euclideanDistance(ea, eb), objective.contrastiveMargin);
    };
    const { loss } = objective;
    let total: tf.Scalar = tf.scalar(0);
    if (loss.kind === 'contrastive') total = pairLoss();
    if (loss.kind === 'cosface' || loss.kind === 'arcface') {
      if (!cosines || !batch.classes) throw new Error(`objectiveLoss: ${loss.kind} needs the training model's class cosines and the batch's classes`);
      total = marginSoftmaxLoss(cosines, batch.classes, loss);
      if (loss.pairWeight > 0) total = tf.add(total, tf.mul(loss.pairWeight, pairLoss()));
    }
    if (objective.teacherWeight !== null) {
      if (!batch.teacher) throw new Error('objectiveLoss: distillation needs the batch\'s teacher embeddings');
      total = tf.add(total, tf.mul(objective.teacherWeight, cosineDistillationLoss(emb, batch.teacher)));
    }
    return total;
  });
}

/** Forward, backward and Adam update over `variables`; returns the loss before the update. */
export function trainStep(model: tf.LayersModel, optimizer: tf.Optimizer, variables: tf.Variable[], batch: StepBatch, objective: Objective): number {
  const loss = optimizer.minimize(() => objectiveLoss(model, batch, objective, true), true, variables);
  if (!loss) throw new Error('trainStep: optimizer returned no loss');
  const value = loss.dataSync()[0];
  loss.dispose();
  return value;
}

/** Embeddings [N, D] of preprocessed images, in inference mode, `batch` images at a time. */
export function embed(model: tf.LayersModel, images: tf.Tensor4D, batch: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let i = 0; i < images.shape[0]; i += batch) {
    const n = Math.min(batch, images.shape[0] - i);
    const e = tf.tidy(() => model.apply(tf.slice(images, [i, 0, 0, 0], [n, -1, -1, -1]), { training: false }) as tf.Tensor2D);
    const data = e.dataSync() as Float32Array;
    const d = e.shape[1];
    for (let j = 0; j < n; j++) out.push(data.slice(j * d, (j + 1) * d));
    e.dispose();
  }
  return out;
}

/** ROC AUC of distances against labels, or null when one class is missing (nothing to rank). */
export function aucOrNull(distances: number[], labels: number[]): number | null {
  const genuine = labels.filter((l) => l === 1).length;
  if (genuine === 0 || genuine === labels.length) return null;
  return rocAuc(distances, labels);
}
