/**
 * A face-pretrained teacher's embeddings of every image of a dataset's train split, computed once and
 * stored beside the shards so distillation runs (and reruns, and later runs on the same shards) reuse them:
 *
 *   datasets/<id>/teacher/<teacherId>/<split>/shard-NNNNN.emb   float32 [count, 2, D]: for each entry of the
 *                                                               shard's index, in order, the teacher's descriptor
 *                                                               of the image and of its mirror image
 *   datasets/<id>/teacher/<teacherId>/manifest.json            written last: the complete set
 *
 * teacherId hashes what determines the numbers: the teacher backbone and its weights, and the shards
 * (the dataset manifest's config hash). Each .emb carries its shard's sha256 as metadata, so an
 * interrupted computation resumes at the first shard without a matching file.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { SiamfaceError, badInput } from '../errors';
import { throwIfAborted, type RunContext } from '../progress';
import type { ObjectStore } from '../storage/object-store';
import type { DatasetManifest, ShardListing } from '../data/dataset-manifest';
import { datasetPrefix, stableJson } from '../data/sources';
import { readShardIndex } from '../data/shard-format';
import { BACKBONES, type BackboneName } from '../model/backbones';
import { buildEmbeddingTower } from '../model/tower';
import { ensureBackend } from '../model/backend';
import { loadFaceApiWeights, faceApiWeightsVersion } from '../model/face-api-weights';
import { preprocessRgbBytes } from '../model/preprocess';
import { ShardImageSource } from './data-loader';
import { embed } from './siamese-step';

export interface TeacherManifest {
  version: 1;
  teacherId: string;
  backbone: BackboneName;
  weights: string;
  dimension: number;
  datasetManifestConfigHash: string;
  splits: string[];
  shards: { shard: string; key: string; count: number; sha256: string }[];
  createdAt: string;
}

export interface ComputeTeacherInput {
  manifestKey: string;
  teacher: { backbone: BackboneName };
  /** Splits to embed (default train: the only split distillation reads). */
  splits?: string[];
  /** Images per forward pass (default 32). */
  batchSize?: number;
}

export interface ComputeTeacherResult {
  teacherId: string;
  manifestKey: string;
  images: number;
  /** Shards embedded by this run (0 when all were already done). */
  shardsComputed: number;
}

export function teacherIdOf(manifest: Pick<DatasetManifest, 'configHash'>, teacher: { backbone: BackboneName }): string {
  const spec = BACKBONES[teacher.backbone];
  const identity = { backbone: spec.name, weights: faceApiWeightsVersion(), normalization: spec.normalization, inputSize: spec.fixedInputSize, shards: manifest.configHash };
  return createHash('sha256').update(stableJson(identity)).digest('hex').slice(0, 16);
}

const teacherPrefix = (datasetId: string, teacherId: string) => `${datasetPrefix(datasetId)}teacher/${teacherId}/`;
export const teacherManifestKey = (datasetId: string, teacherId: string) => `${teacherPrefix(datasetId, teacherId)}manifest.json`;
const embKey = (datasetId: string, teacherId: string, shard: ShardListing) => `${teacherPrefix(datasetId, teacherId)}${shard.split}/${shard.key.slice(shard.key.lastIndexOf('/') + 1).replace(/\.tar$/, '.emb')}`;

/** RGB bytes mirrored left-right. */
function mirror(rgb: Buffer, side: number): Buffer {
  const out = Buffer.allocUnsafe(rgb.length);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) rgb.copy(out, (y * side + (side - 1 - x)) * 3, (y * side + x) * 3, (y * side + x) * 3 + 3);
  }
  return out;
}

/** Computes (or finishes computing) the teacher's embeddings of the dataset's train images. Idempotent. */
export async function computeTeacherEmbeddings(store: ObjectStore, input: ComputeTeacherInput, ctx: RunContext): Promise<ComputeTeacherResult> {
  const manifest = await store.getJson<DatasetManifest>(input.manifestKey);
  const spec = BACKBONES[input.teacher.backbone];
  if (!spec || spec.pretrained !== 'face-api' || spec.fixedInputSize === null) throw badInput(`teacher backbone must be face-pretrained (faceres34), got ${JSON.stringify(input.teacher.backbone)}`);
  const teacherId = teacherIdOf(manifest, input.teacher);
  const mKey = teacherManifestKey(manifest.datasetId, teacherId);
  const splits = input.splits ?? ['train'];
  const shards = manifest.shards.filter((s) => splits.includes(s.split));
  const done = await store.getJsonIfExists<TeacherManifest>(mKey);
  if (done && done.value.shards.length === shards.length) {
    ctx.log('teacher embeddings already computed', { teacherId, key: store.uri(mKey) });
    return { teacherId, manifestKey: mKey, images: done.value.shards.reduce((n, s) => n + s.count, 0), shardsComputed: 0 };
  }

  const side = spec.fixedInputSize;
  await ensureBackend({ log: ctx.log });
  const model = buildEmbeddingTower({ backbone: spec.name, head: 'linear' }, { seed: 0 });
  const source = await ShardImageSource.open(store, input.manifestKey, { imageSize: side, decodedCacheImages: 0, shardCacheBytes: 0, splits });
  const batch = input.batchSize ?? 32;
  const per = side * side * 3;
  const listed: TeacherManifest['shards'] = [];
  let images = 0;
  let computed = 0;
  const total = shards.reduce((n, s) => n + s.count, 0);
  try {
    loadFaceApiWeights(model);
    for (const shard of shards) {
      throwIfAborted(ctx.signal);
      const key = embKey(manifest.datasetId, teacherId, shard);
      const head = await store.head(key);
      const bytes = shard.count * 2 * spec.defaultEmbeddingDim * 4;
      if (!(head && head.size === bytes && head.metadata?.['shard-sha256'] === shard.sha256)) {
        const ids = (await readShardIndex(store, shard.index)).entries.map((e) => e.imageId);
        const out = new Float32Array(shard.count * 2 * spec.defaultEmbeddingDim);
        for (let i = 0; i < ids.length; i += batch) {
          throwIfAborted(ctx.signal);
          const chunk = ids.slice(i, i + batch);
          const rgbs = await Promise.all(chunk.map((id) => source.rgb(id)));
          const data = new Float32Array(2 * chunk.length * per);
          rgbs.forEach((rgb, j) => {
            preprocessRgbBytes(rgb, spec.normalization, data, 2 * j * per);
            preprocessRgbBytes(mirror(rgb, side), spec.normalization, data, (2 * j + 1) * per);
          });
          const x = tf.tensor4d(data, [2 * chunk.length, side, side, 3]);
          try {
            embed(model, x, 2 * batch).forEach((e, j) => out.set(e, (2 * i + j) * spec.defaultEmbeddingDim));
          } finally {
            x.dispose();
          }
          images += chunk.length;
          ctx.report({ stage: 'teacher', images, total, shards: listed.length, totalShards: shards.length });
        }
        await store.putObject(key, Buffer.from(out.buffer, out.byteOffset, out.byteLength), { contentType: 'application/octet-stream', metadata: { 'shard-sha256': shard.sha256 } });
        computed++;
      } else {
        images += shard.count;
      }
      listed.push({ shard: shard.key, key, count: shard.count, sha256: shard.sha256 });
    }
  } finally {
    model.dispose();
    source.clear();
  }
  const teacherManifest: TeacherManifest = {
    version: 1,
    teacherId,
    backbone: spec.name,
    weights: faceApiWeightsVersion(),
    dimension: spec.defaultEmbeddingDim,
    datasetManifestConfigHash: manifest.configHash,
    splits,
    shards: listed,
    createdAt: new Date().toISOString(),
  };
  await store.putJson(mKey, teacherManifest);
  ctx.report({ stage: 'teacher', images, total, shards: listed.length, totalShards: shards.length, status: 'completed' });
  return { teacherId, manifestKey: mKey, images, shardsComputed: computed };
}

/** The stored teacher embeddings of a dataset, by image id: [descriptor, mirrored descriptor]. */
export class TeacherTargets {
  private constructor(
    private readonly byImage: Map<string, Float32Array>,
    readonly dimension: number,
    readonly teacherId: string,
  ) {}

  /** Loads every embedding the teacher manifest lists; fails clearly when it was never computed. */
  static async load(store: ObjectStore, manifest: DatasetManifest, teacher: { backbone: BackboneName }): Promise<TeacherTargets> {
    const teacherId = teacherIdOf(manifest, teacher);
    const key = teacherManifestKey(manifest.datasetId, teacherId);
    const tm = await store.getJsonIfExists<TeacherManifest>(key);
    if (!tm) throw new SiamfaceError('not_found', `${store.uri(key)} does not exist: compute the ${teacher.backbone} teacher embeddings (pipeline stage 'teacher') before distillation`);
    const byImage = new Map<string, Float32Array>();
    const d = tm.value.dimension;
    for (const s of tm.value.shards) {
      const listing = manifest.shards.find((m) => m.key === s.shard);
      if (!listing || listing.sha256 !== s.sha256) throw badInput(`${store.uri(key)}: shard ${s.shard} changed since its teacher embeddings were computed`);
      const [index, buf] = await Promise.all([readShardIndex(store, listing.index), store.getBuffer(s.key)]);
      if (buf.length !== s.count * 2 * d * 4) throw new SiamfaceError('checksum_mismatch', `${store.uri(s.key)} has ${buf.length} bytes, expected ${s.count * 2 * d * 4}`);
      const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
      index.entries.forEach((e, i) => byImage.set(e.imageId, all.subarray(2 * i * d, 2 * (i + 1) * d)));
    }
    return new TeacherTargets(byImage, d, teacherId);
  }

  get size(): number {
    return this.byImage.size;
  }

  /** The teacher's embedding of an image as the student sees it (mirrored or not). */
  of(imageId: string, mirrored: boolean): Float32Array {
    const both = this.byImage.get(imageId);
    if (!both) throw badInput(`no teacher embedding for image '${imageId}' (not in the embedded splits)`);
    return mirrored ? both.subarray(this.dimension) : both.subarray(0, this.dimension);
  }

  /** Targets of a batch's 2B slots, [2B, D]. */
  batch(ids: readonly string[], flips: readonly boolean[]): tf.Tensor2D {
    const out = new Float32Array(ids.length * this.dimension);
    ids.forEach((id, i) => out.set(this.of(id, flips[i]), i * this.dimension));
    return tf.tensor2d(out, [ids.length, this.dimension]);
  }
}
