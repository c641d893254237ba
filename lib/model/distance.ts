/** Distances between embedding batches (rows are embeddings). */
import * as tf from '@tensorflow/tfjs';

/**
 * Row-wise Euclidean distance: [N, D] x [N, D] -> [N]. `epsilon` keeps the gradient of sqrt
 * finite when two embeddings coincide (d = sqrt(sum + eps), so identical rows give sqrt(eps)).
 */
export function euclideanDistance(a: tf.Tensor2D, b: tf.Tensor2D, epsilon = 1e-12): tf.Tensor1D {
  if (a.shape[0] !== b.shape[0] || a.shape[1] !== b.shape[1]) {
    throw new Error(`euclideanDistance: shapes differ: [${a.shape}] vs [${b.shape}]`);
  }
  return tf.tidy(() => tf.sqrt(tf.add(tf.sum(tf.squaredDifference(a, b), 1), epsilon)) as tf.Tensor1D);
}

/** Plain-number form for callers that already hold embeddings as arrays (verify, eval). */
export function euclideanDistanceOf(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`euclideanDistanceOf: embeddings of different lengths (${a.length} and ${b.length})`);
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d * d;
  }
  return Math.sqrt(s);
}
