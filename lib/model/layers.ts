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

export interface ChannelScaleArgs {
  name?: string;
  trainable?: boolean;
}

/**
 * Per-channel affine map y = x * weights + biases over the last axis: dlib's folded batch norm
 * (face-api.js's "scale" layer). Weights are named `weights` and `biases` as in face-api.js's
 * weight files; initialised to the identity.
 */
export class ChannelScale extends tf.layers.Layer {
  static readonly className = 'ChannelScale';
  private scale: tf.LayerVariable | null = null;
  private shift: tf.LayerVariable | null = null;

  constructor(args: ChannelScaleArgs = {}) {
    super({ name: args.name, trainable: args.trainable });
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const channels = shape[shape.length - 1];
    if (typeof channels !== 'number') throw new Error(`ChannelScale ${this.name}: the channel dimension must be known`);
    this.scale = this.addWeight('weights', [channels], 'float32', tf.initializers.ones());
    this.shift = this.addWeight('biases', [channels], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      return tf.add(tf.mul(x, this.scale!.read()), this.shift!.read());
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }
}
tf.serialization.registerClass(ChannelScale);

export interface ZeroPadChannelsArgs {
  /** Channels of the output; the input's channels come first, zeros after. */
  channels: number;
  name?: string;
}

/** Appends zero channels (last axis) up to `channels`: the parameter-free shortcut of a widening residual unit. */
export class ZeroPadChannels extends tf.layers.Layer {
  static readonly className = 'ZeroPadChannels';
  readonly channels: number;

  constructor(args: ZeroPadChannelsArgs) {
    super({ name: args.name, trainable: false });
    this.channels = args.channels;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const have = x.shape[x.rank - 1];
      if (have > this.channels) throw new Error(`ZeroPadChannels ${this.name}: input has ${have} channels, more than ${this.channels}`);
      const pad = x.shape.map((): [number, number] => [0, 0]);
      pad[x.rank - 1] = [0, this.channels - have];
      return tf.pad(x, pad);
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    const shape = [...((Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape)];
    shape[shape.length - 1] = this.channels;
    return shape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), channels: this.channels };
  }
}
tf.serialization.registerClass(ZeroPadChannels);

export interface CosineClassifierArgs {
  /** Number of classes (identities). */
  classes: number;
  name?: string;
}

/**
 * Cosines between each input row and C learned class centres: x/|x| . W/|W| (columns), [N, D] ->
 * [N, C]. The class-centre layer of the additive-margin softmax losses; used only in training, it
 * is not part of the exported tower.
 */
export class CosineClassifier extends tf.layers.Layer {
  static readonly className = 'CosineClassifier';
  readonly classes: number;
  private kernel: tf.LayerVariable | null = null;

  constructor(args: CosineClassifierArgs) {
    super({ name: args.name });
    this.classes = args.classes;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const dim = shape[shape.length - 1];
    if (typeof dim !== 'number') throw new Error(`CosineClassifier ${this.name}: the feature dimension must be known`);
    this.kernel = this.addWeight('kernel', [dim, this.classes], 'float32', tf.initializers.glorotUniform({}));
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor2D;
      const w = this.kernel!.read() as tf.Tensor2D;
      const xn = tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), 1, true), 1e-12)));
      const wn = tf.mul(w, tf.rsqrt(tf.maximum(tf.sum(tf.square(w), 0, true), 1e-12)));
      return tf.matMul(xn, wn);
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [shape[0], this.classes];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), classes: this.classes };
  }
}
tf.serialization.registerClass(CosineClassifier);

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

export function channelScale(args: ChannelScaleArgs = {}): ChannelScale {
  return new ChannelScale(args);
}

export function zeroPadChannels(args: ZeroPadChannelsArgs): ZeroPadChannels {
  return new ZeroPadChannels(args);
}

export function cosineClassifier(args: CosineClassifierArgs): CosineClassifier {
  return new CosineClassifier(args);
}
