/**
 * Input normalisation: x' = (x / 255 - mean) / std per RGB channel. Each backbone owns its values
 * (lib/model/backbones.ts): DenseNet121's ImageNet weights expect the ImageNet mean/std (Keras's
 * densenet.preprocess_input, mode 'torch'); face-api.js's ResNet-34 subtracts its own RGB mean and
 * divides by 255 (std 1). Training, evaluation and serving all normalise through this module, with
 * the values the model card records.
 */
import * as tf from '@tensorflow/tfjs';
import { badInput } from '../errors';

export interface Normalization {
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];
export const IMAGENET_NORMALIZATION: Normalization = Object.freeze({ mean: IMAGENET_MEAN, std: IMAGENET_STD });

// Per-channel lookup tables for byte input: the same float math for every pixel, computed once per normalisation.
const LUTS = new Map<string, Float32Array[]>();

function lutOf(norm: Normalization): Float32Array[] {
  const key = `${norm.mean.join(',')}/${norm.std.join(',')}`;
  let lut = LUTS.get(key);
  if (!lut) {
    lut = [0, 1, 2].map((ch) => Float32Array.from({ length: 256 }, (_, v) => (v / 255 - norm.mean[ch]) / norm.std[ch]));
    LUTS.set(key, lut);
  }
  return lut;
}

/** Checks a normalisation read from a model card or config; errors name where it came from. */
export function checkNormalization(value: unknown, where: string): Normalization {
  const v = value as Partial<Normalization> | undefined;
  const triple = (x: unknown, positive: boolean) => Array.isArray(x) && x.length === 3 && x.every((n) => typeof n === 'number' && Number.isFinite(n) && (!positive || n > 0));
  if (!v || !triple(v.mean, false) || !triple(v.std, true)) {
    throw badInput(`${where}: normalisation must be {mean: [r, g, b], std: [r, g, b] > 0}, got ${JSON.stringify(value)}`);
  }
  return { mean: [...v.mean!] as [number, number, number], std: [...v.std!] as [number, number, number] };
}

/** RGB tensor [..., 3] with values in 0..255 (uint8 or float) -> float32 normalised tensor. */
export function preprocessImages<T extends tf.Tensor>(rgb: T, norm: Normalization): T {
  const c = rgb.shape[rgb.shape.length - 1];
  if (c !== 3) throw new Error(`preprocessImages: expected RGB with 3 channels last, got shape [${rgb.shape}]`);
  return tf.tidy(() => {
    const x = tf.div(tf.cast(rgb, 'float32'), 255);
    return tf.div(tf.sub(x, tf.tensor1d([...norm.mean])), tf.tensor1d([...norm.std])) as T;
  });
}

/**
 * Same transform on raw interleaved RGB bytes (as sharp's `.raw()` gives), without tfjs: for data
 * loaders that fill a batch buffer. Writes into `out` at `offset` when given.
 */
export function preprocessRgbBytes(rgb: Uint8Array, norm: Normalization, out?: Float32Array, offset = 0): Float32Array {
  if (rgb.length % 3 !== 0) throw new Error(`preprocessRgbBytes: length ${rgb.length} is not a multiple of 3 (RGB)`);
  const dst = out ?? new Float32Array(rgb.length);
  if (dst.length < offset + rgb.length) throw new Error(`preprocessRgbBytes: output too small (${dst.length} < ${offset + rgb.length})`);
  const lut = lutOf(norm);
  for (let i = 0; i < rgb.length; i += 3) {
    dst[offset + i] = lut[0][rgb[i]];
    dst[offset + i + 1] = lut[1][rgb[i + 1]];
    dst[offset + i + 2] = lut[2][rgb[i + 2]];
  }
  return dst;
}

/** Batch tensor [N, S, S, 3] from N raw RGB images of side S. */
export function imagesToBatch(images: Uint8Array[], size: number, norm: Normalization): tf.Tensor4D {
  const per = size * size * 3;
  const data = new Float32Array(images.length * per);
  images.forEach((img, i) => {
    if (img.length !== per) throw new Error(`imagesToBatch: image ${i} has ${img.length} bytes, expected ${per} (${size}x${size} RGB)`);
    preprocessRgbBytes(img, norm, data, i * per);
  });
  return tf.tensor4d(data, [images.length, size, size, 3]);
}
