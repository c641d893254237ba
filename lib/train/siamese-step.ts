/**
 * One training step of the Siamese tower, and validation. Both images of every pair go through
 * the same tower in one call (the batch is [a images; b images]), so the weights are shared by
 * construction and batch-norm sees one batch.
 */
import * as tf from '@tensorflow/tfjs';
import { contrastiveLoss, euclideanDistance } from '../model';
import { rocAuc } from '../eval/metrics';

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

/** Forward, backward and Adam update over `variables`; returns the loss before the update. */
export function trainStep(model: tf.LayersModel, optimizer: tf.Optimizer, variables: tf.Variable[], images: tf.Tensor4D, labels: tf.Tensor1D, margin: number): number {
  const loss = optimizer.minimize(() => siameseLoss(model, images, labels, margin, true), true, variables);
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
