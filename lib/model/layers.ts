/**
 * Custom tfjs layers of the embedding tower, registered for (de)serialisation so saved models
 * load again with tf.loadLayersModel once this module has been imported.
 */
import * as tf from '@tensorflow/tfjs';

type Kwargs = Record<string, unknown>;

export interface L2NormalizeArgs {
  name?: string;
  /** Floor on the squared norm, so a zero vector maps to zero instead of NaN. */
  epsilon?: number;
  trainable?: boolean;
}

/** Scales each row (last axis) to unit Euclidean length: x / sqrt(max(sum(x^2), epsilon)). */
export class L2Normalize extends tf.layers.Layer {
  static readonly className = 'L2Normalize';
  readonly epsilon: number;

  constructor(args: L2NormalizeArgs = {}) {
    super({ name: args.name, trainable: args.trainable });
    this.epsilon = args.epsilon ?? 1e-12;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const sq = tf.sum(tf.square(x), -1, true);
      return tf.mul(x, tf.rsqrt(tf.maximum(sq, this.epsilon)));
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), epsilon: this.epsilon };
  }
}
tf.serialization.registerClass(L2Normalize);

// tfjs does not export its BatchNormalization class; take it from an instance of the same bundle.
type BatchNormArgs = Parameters<typeof tf.layers.batchNormalization>[0];
const BatchNormalizationBase = tf.layers.batchNormalization({}).constructor as new (args?: BatchNormArgs) => tf.layers.Layer;

/**
 * BatchNormalization with Keras (TF2) semantics for frozen layers: when `trainable` is false it
 * always normalises with its moving statistics and never updates them, even in a training
 * forward pass. tfjs's own layer ignores `trainable` here, so phase 1 of transfer learning
 * (frozen backbone) would otherwise overwrite the ImageNet statistics with batch statistics.
 */
export class FreezableBatchNormalization extends BatchNormalizationBase {
  static readonly className = 'FreezableBatchNormalization';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    return super.call(inputs, this.trainable ? kwargs : { ...kwargs, training: false });
  }
}
tf.serialization.registerClass(FreezableBatchNormalization as unknown as tf.serialization.SerializableConstructor<tf.layers.Layer>);

export function l2Normalize(args: L2NormalizeArgs = {}): L2Normalize {
  return new L2Normalize(args);
}

export function freezableBatchNormalization(args: BatchNormArgs = {}): FreezableBatchNormalization {
  return new FreezableBatchNormalization(args);
}
