/**
 * Input preprocessing that matches the Keras DenseNet ImageNet weights
 * (keras.applications.densenet.preprocess_input, mode 'torch'): x / 255, minus the ImageNet
 * mean, divided by the ImageNet std, per RGB channel.
 */
import * as tf from '@tensorflow/tfjs';

export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

// Per-channel lookup tables for byte input: the same float math for every pixel, computed once.
const RGB_LUT = [0, 1, 2].map((ch) => Float32Array.from({ length: 256 }, (_, v) => (v / 255 - IMAGENET_MEAN[ch]) / IMAGENET_STD[ch]));

/** RGB tensor [..., 3] with values in 0..255 (uint8 or float) -> float32 normalised tensor. */
export function preprocessImages<T extends tf.Tensor>(rgb: T): T {
  const c = rgb.shape[rgb.shape.length - 1];
  if (c !== 3) throw new Error(`preprocessImages: expected RGB with 3 channels last, got shape [${rgb.shape}]`);
  return tf.tidy(() => {
    const x = tf.div(tf.cast(rgb, 'float32'), 255);
    return tf.div(tf.sub(x, tf.tensor1d([...IMAGENET_MEAN])), tf.tensor1d([...IMAGENET_STD])) as T;
  });
}

/**
 * Same transform on raw interleaved RGB bytes (as sharp's `.raw()` gives), without tfjs: for data
 * loaders that fill a batch buffer. Writes into `out` at `offset` when given.
 */
export function preprocessRgbBytes(rgb: Uint8Array, out?: Float32Array, offset = 0): Float32Array {
  if (rgb.length % 3 !== 0) throw new Error(`preprocessRgbBytes: length ${rgb.length} is not a multiple of 3 (RGB)`);
  const dst = out ?? new Float32Array(rgb.length);
  if (dst.length < offset + rgb.length) throw new Error(`preprocessRgbBytes: output too small (${dst.length} < ${offset + rgb.length})`);
  const lut = RGB_LUT;
  for (let i = 0; i < rgb.length; i += 3) {
    dst[offset + i] = lut[0][rgb[i]];
    dst[offset + i + 1] = lut[1][rgb[i + 1]];
    dst[offset + i + 2] = lut[2][rgb[i + 2]];
  }
  return dst;
}

/** Batch tensor [N, S, S, 3] from N raw RGB images of side S. */
export function imagesToBatch(images: Uint8Array[], size: number): tf.Tensor4D {
  const per = size * size * 3;
  const data = new Float32Array(images.length * per);
  images.forEach((img, i) => {
    if (img.length !== per) throw new Error(`imagesToBatch: image ${i} has ${img.length} bytes, expected ${per} (${size}x${size} RGB)`);
    preprocessRgbBytes(img, data, i * per);
  });
  return tf.tensor4d(data, [images.length, size, size, 3]);
}
