/**
 * Embeds dataset images (by id) with a run's trained model: the model from runs/<run>/model/, the
 * images from the dataset's val/test shards, preprocessed exactly as in training (no augmentation).
 */
import * as tf from '@tensorflow/tfjs';
import type { ObjectStore } from '../storage/object-store';
import type { RunContext } from '../progress';
import { loadModelFromStore } from '../model/io';
import { checkNormalization, preprocessRgbBytes } from '../model/preprocess';
import { ensureBackend } from '../model/backend';
import { ShardImageSource } from '../train/data-loader';
import { modelPrefix, modelSidecarKey } from '../train/run-layout';
import { embed as embedTensor } from '../train/siamese-step';
import type { SiamfaceModelJson } from '../train/train-model';
import type { EmbedFn } from './types';

export async function runEmbedder(
  store: ObjectStore,
  run: { runId: string; modelKey?: string; manifestKey: string },
  ctx: RunContext,
  opts: { batchSize?: number } = {},
): Promise<{ embed: EmbedFn; dispose: () => void }> {
  await ensureBackend({ log: ctx.log });
  const prefix = run.modelKey ?? modelPrefix(run.runId);
  const sidecar = await store.getJson<SiamfaceModelJson>(modelSidecarKey(prefix));
  const size = sidecar.preprocessing.inputSize;
  const normalization = checkNormalization(sidecar.preprocessing, store.uri(modelSidecarKey(prefix)));
  const model = await loadModelFromStore(store, prefix);
  const source = await ShardImageSource.open(store, run.manifestKey, {
    imageSize: size,
    decodedCacheImages: 512,
    shardCacheBytes: 256 * 1024 * 1024,
    splits: ['val', 'test'],
  });
  ctx.log('evaluation embedder ready', { runId: run.runId, backend: tf.getBackend(), inputSize: size, images: source.stats.images });
  const batch = opts.batchSize ?? 32;
  const per = size * size * 3;
  return {
    async embed(ids) {
      const data = new Float32Array(ids.length * per);
      const rgbs = await Promise.all(ids.map((id) => source.rgb(id)));
      rgbs.forEach((rgb, j) => preprocessRgbBytes(rgb, normalization, data, j * per));
      const x = tf.tensor4d(data, [ids.length, size, size, 3]);
      try {
        return embedTensor(model, x, batch);
      } finally {
        x.dispose();
      }
    },
    dispose: () => model.dispose(),
  };
}
