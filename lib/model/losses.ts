/** Losses for the Siamese tower. */
import * as tf from '@tensorflow/tfjs';

export const DEFAULT_CONTRASTIVE_MARGIN = 1.0;

/**
 * Contrastive loss (Hadsell, Chopra, LeCun 2006), label 1 = same person, 0 = different:
 *   L = mean over pairs of  0.5 * [ y * d^2 + (1 - y) * max(0, margin - d)^2 ].
 * Convention: the 1/2 factor of the paper, averaged over the batch (so a batch of same-pairs
 * at distance d gives d^2 / 2). Unit embeddings lie within distance 2 of each other, so a
 * margin in (0, 2] is meaningful; 1.0 is the default.
 */
export function contrastiveLoss(labels: tf.Tensor1D, distances: tf.Tensor1D, margin = DEFAULT_CONTRASTIVE_MARGIN): tf.Scalar {
  if (!(margin > 0)) throw new Error(`contrastiveLoss: margin must be > 0, got ${margin}`);
  if (labels.shape[0] !== distances.shape[0]) {
    throw new Error(`contrastiveLoss: ${labels.shape[0]} labels for ${distances.shape[0]} distances`);
  }
  return tf.tidy(() => {
    const y = tf.cast(labels, 'float32');
    const same = tf.mul(y, tf.square(distances));
    const diff = tf.mul(tf.sub(1, y), tf.square(tf.relu(tf.sub(margin, distances))));
    return tf.mul(0.5, tf.mean(tf.add(same, diff))) as tf.Scalar;
  });
}
