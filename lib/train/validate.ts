/** Per-epoch validation: ROC AUC of the tower's distances on the val pairs (no augmentation). */
import * as tf from '@tensorflow/tfjs';
import { euclideanDistanceOf } from '../model/distance';
import { preprocessRgbBytes, type Normalization } from '../model/preprocess';
import type { LabelledPair, ShardImageSource } from './data-loader';
import { aucOrNull, embed } from './siamese-step';

export interface ValidationResult {
  /** Null when the pairs hold only one class. */
  auc: number | null;
  pairs: number;
  meanGenuineDistance: number | null;
  meanImpostorDistance: number | null;
  /** False when cancelled before every image was embedded: the numbers are then partial and must not be used. */
  complete: boolean;
}

export async function validatePairs(
  model: tf.LayersModel,
  source: ShardImageSource,
  pairs: readonly LabelledPair[],
  input: { imageSize: number; normalization: Normalization },
  batch: number,
  signal?: AbortSignal,
): Promise<ValidationResult> {
  const { imageSize, normalization } = input;
  const ids = [...new Set(pairs.flatMap((p) => [p.a, p.b]))];
  const per = imageSize * imageSize * 3;
  const embeddings = new Map<string, Float32Array>();
  let complete = true;
  for (let i = 0; i < ids.length; i += batch) {
    if (signal?.aborted) {
      complete = false;
      break;
    }
    const chunk = ids.slice(i, i + batch);
    const data = new Float32Array(chunk.length * per);
    const rgbs = await Promise.all(chunk.map((id) => source.rgb(id)));
    rgbs.forEach((rgb, j) => preprocessRgbBytes(rgb, normalization, data, j * per));
    const x = tf.tensor4d(data, [chunk.length, imageSize, imageSize, 3]);
    try {
      embed(model, x, batch).forEach((e, j) => embeddings.set(chunk[j], e));
    } finally {
      x.dispose();
    }
  }
  const scored = pairs.filter((p) => embeddings.has(p.a) && embeddings.has(p.b));
  const distances = scored.map((p) => euclideanDistanceOf(embeddings.get(p.a)!, embeddings.get(p.b)!));
  const labels = scored.map((p) => p.label as number);
  const mean = (want: number) => {
    const d = distances.filter((_, i) => labels[i] === want);
    return d.length ? d.reduce((a, b) => a + b, 0) / d.length : null;
  };
  return { auc: aucOrNull(distances, labels), pairs: scored.length, meanGenuineDistance: mean(1), meanImpostorDistance: mean(0), complete };
}
