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

export interface MarginSoftmaxOptions {
  kind: 'cosface' | 'arcface';
  /** Logit scale s. */
  scale: number;
  /** CosFace: subtracted from the target cosine; ArcFace: added to the target angle (radians). */
  margin: number;
}

/**
 * Additive-margin softmax over identities (InsightFace's CosFaceLoss / ArcFace "CombinedMarginLoss"):
 * `cosines` [N, C] are the cosines between each (unit) embedding and each class centre, `classes`
 * [N] int32 the true class. The target logit is s * (cos - m) for CosFace and s * cos(theta + m)
 * for ArcFace; where theta + m would pass pi, ArcFace uses cos - m * sin(m) instead (InsightFace's
 * `easy_margin=False` fallback), keeping the target logit monotone. Mean cross-entropy.
 */
export function marginSoftmaxLoss(cosines: tf.Tensor2D, classes: tf.Tensor1D, opts: MarginSoftmaxOptions): tf.Scalar {
  if (cosines.shape[0] !== classes.shape[0]) throw new Error(`marginSoftmaxLoss: ${classes.shape[0]} labels for ${cosines.shape[0]} rows`);
  if (!(opts.scale > 0) || !(opts.margin >= 0)) throw new Error(`marginSoftmaxLoss: scale must be > 0 and margin >= 0, got s=${opts.scale} m=${opts.margin}`);
  return tf.tidy(() => {
    const numClasses = cosines.shape[1];
    const onehot = tf.oneHot(tf.cast(classes, 'int32'), numClasses).toFloat();
    const cos = tf.clipByValue(cosines, -1 + 1e-7, 1 - 1e-7);
    const target = tf.sum(tf.mul(cos, onehot), 1);
    let marginTarget: tf.Tensor1D;
    if (opts.kind === 'cosface') {
      marginTarget = tf.sub(target, opts.margin);
    } else {
      const sin = tf.sqrt(tf.sub(1, tf.square(target)));
      const cosThetaM = tf.sub(tf.mul(target, Math.cos(opts.margin)), tf.mul(sin, Math.sin(opts.margin)));
      const theta = Math.cos(Math.PI - opts.margin);
      const sinmm = Math.sin(Math.PI - opts.margin) * opts.margin;
      // A 0/1 mask from tf.step (its gradient is zero) instead of tf.where(greater): Greater has no gradient in tfjs.
      const useMargin = tf.step(tf.sub(target, theta));
      marginTarget = tf.add(tf.mul(useMargin, cosThetaM), tf.mul(tf.sub(1, useMargin), tf.sub(target, sinmm))) as tf.Tensor1D;
    }
    const logits = tf.mul(opts.scale, tf.add(cos, tf.mul(onehot, tf.expandDims(tf.sub(marginTarget, target), 1))));
    return tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1))) as tf.Scalar;
  });
}

/**
 * Distillation: mean over rows of 1 - cos(student, teacher), both normalised first, so only the
 * teacher's direction is matched (its descriptor's length carries no identity).
 */
export function cosineDistillationLoss(student: tf.Tensor2D, teacher: tf.Tensor2D): tf.Scalar {
  if (student.shape[0] !== teacher.shape[0] || student.shape[1] !== teacher.shape[1]) {
    throw new Error(`cosineDistillationLoss: student [${student.shape}] and teacher [${teacher.shape}] differ`);
  }
  return tf.tidy(() => {
    const unit = (x: tf.Tensor2D) => tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), 1, true), 1e-12)));
    return tf.mean(tf.sub(1, tf.sum(tf.mul(unit(student), unit(teacher)), 1))) as tf.Scalar;
  });
}
