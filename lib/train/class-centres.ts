/**
 * Class centres for the margin losses at the mean embedding of each identity's train images. On
 * pretrained features the centres then start where the identities already are, so the first steps
 * of fine-tuning follow the features' structure instead of pulling them towards random centres.
 * Measured on lfw-train (faceres34, CosFace, lr 1e-5): with random centres the validation ROC AUC
 * fell from 0.9987 to 0.978 within 50 steps of fine-tuning all layers.
 */
import * as tf from '@tensorflow/tfjs';
import { throwIfAborted } from '../progress';
import { preprocessRgbBytes, type Normalization } from '../model/preprocess';
import type { ShardImageSource } from './data-loader';
import { embed } from './siamese-step';

export interface ClassMeanOptions {
  imageSize: number;
  normalization: Normalization;
  batch: number;
  signal: AbortSignal;
  /** Called after each batch with the images embedded so far. */
  onProgress?: (done: number, total: number) => void;
}

/** [D, C] unit-length columns: the normalised mean embedding of class c's train images (a random unit vector for an empty class). */
export async function classMeanCentres(tower: tf.LayersModel, source: ShardImageSource, classOf: Map<string, number>, opts: ClassMeanOptions): Promise<Float32Array> {
  const ids = source.imagesOf('train').filter((id) => classOf.has(source.identityOf(id)));
  const dim = tower.outputs[0].shape[1] as number;
  const classes = classOf.size;
  const sums = new Float64Array(classes * dim);
  const per = opts.imageSize * opts.imageSize * 3;
  for (let i = 0; i < ids.length; i += opts.batch) {
    throwIfAborted(opts.signal);
    const chunk = ids.slice(i, i + opts.batch);
    const data = new Float32Array(chunk.length * per);
    (await Promise.all(chunk.map((id) => source.rgb(id)))).forEach((rgb, j) => preprocessRgbBytes(rgb, opts.normalization, data, j * per));
    const x = tf.tensor4d(data, [chunk.length, opts.imageSize, opts.imageSize, 3]);
    try {
      embed(tower, x, opts.batch).forEach((e, j) => {
        const c = classOf.get(source.identityOf(chunk[j]))!;
        for (let d = 0; d < dim; d++) sums[c * dim + d] += e[d];
      });
    } finally {
      x.dispose();
    }
    opts.onProgress?.(Math.min(i + opts.batch, ids.length), ids.length);
  }
  const out = new Float32Array(dim * classes); // [D, C], column c = centre of class c
  for (let c = 0; c < classes; c++) {
    let norm = 0;
    for (let d = 0; d < dim; d++) norm += sums[c * dim + d] ** 2;
    norm = Math.sqrt(norm);
    // An identity with no embedded image keeps a deterministic stand-in direction (it never appears in a batch).
    for (let d = 0; d < dim; d++) out[d * classes + c] = norm > 0 ? sums[c * dim + d] / norm : d === c % dim ? 1 : 0;
  }
  return out;
}
