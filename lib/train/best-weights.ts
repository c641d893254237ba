/**
 * The weights of the best validation AUC so far, kept apart from the rotating checkpoints so that
 * pruning never removes them: `runs/<run>/best/weights-<step>.bin`, then `best/meta.json` (written
 * last, pointing at the file), then the previous best file is deleted.
 */
import { createHash } from 'node:crypto';
import type * as tf from '@tensorflow/tfjs';
import { SiamfaceError } from '../errors';
import type { ObjectStore } from '../storage/object-store';
import { restoreWeights, serializeWeights } from '../model/io';
import type { BlobRef } from './checkpoint';
import { bestPrefix } from './run-layout';

export interface BestMeta {
  version: 1;
  step: number;
  epoch: number;
  valAuc: number;
  configHash: string;
  weights: BlobRef;
  createdAt: string;
}

const bestMetaKey = (runId: string) => `${bestPrefix(runId)}meta.json`;

export async function readBest(store: ObjectStore, runId: string): Promise<BestMeta | null> {
  return (await store.getJsonIfExists<BestMeta>(bestMetaKey(runId)))?.value ?? null;
}

/** `fence` runs before each write and delete (the run's lease check) and throws to stop a superseded writer. */
export async function saveBestWeights(
  store: ObjectStore,
  runId: string,
  model: tf.LayersModel,
  info: { step: number; epoch: number; valAuc: number; configHash: string },
  fence: () => Promise<void> = async () => undefined,
): Promise<BestMeta> {
  const previous = await readBest(store, runId);
  const { specs, data } = await serializeWeights(model);
  const key = `${bestPrefix(runId)}weights-${String(info.step).padStart(8, '0')}.bin`;
  await fence();
  await store.upload(key, data, { contentType: 'application/octet-stream' });
  const meta: BestMeta = {
    version: 1,
    ...info,
    weights: { key, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex'), specs },
    createdAt: new Date().toISOString(),
  };
  await fence();
  await store.putJson(bestMetaKey(runId), meta);
  if (previous && previous.weights.key !== key) {
    await fence();
    await store.delete(previous.weights.key);
  }
  return meta;
}

export async function restoreBestWeights(store: ObjectStore, best: BestMeta, model: tf.LayersModel): Promise<void> {
  const data = await store.getBuffer(best.weights.key);
  if (data.length !== best.weights.bytes || createHash('sha256').update(data).digest('hex') !== best.weights.sha256) {
    throw new SiamfaceError('checksum_mismatch', `${store.uri(best.weights.key)} does not match best/meta.json`);
  }
  restoreWeights(model, best.weights.specs, data);
}
