/**
 * A tiny real dataset for training tests: a few identities of /work/shared/data/lfw-train,
 * centre-cropped and resized by lib/data's preprocessing, written as real shards (shard-format),
 * a dataset manifest and balanced pairs CSVs in the test's bucket. Nothing is copied into the repo.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ObjectStore } from '../../../lib/storage/object-store';
import type { TrainConfigInput } from '../../../lib/train/config';
import { SHARED_DATA } from '../../support/shared-data';
import { preprocessImage, DEFAULT_MAX_INPUT_BYTES, DEFAULT_MAX_INPUT_PIXELS, SHARD_JPEG_QUALITY } from '../../../lib/data/preprocess';
import { shardIndexKey, shardKey, writeShard, type ShardImage } from '../../../lib/data/shard-format';
import { makePairs } from '../../../lib/data/pairs';
import { datasetManifestKey } from '../../../lib/data/sources';
import type { DatasetManifest, ShardListing } from '../../../lib/data/dataset-manifest';

export const LFW_TRAIN = process.env.SIAMFACE_LFW_TRAIN ?? path.join(SHARED_DATA, 'lfw-train');

export interface TinyDataset {
  datasetId: string;
  manifestKey: string;
  pairsKeys: { train: string; val: string };
  images: number;
}

export interface TinyDatasetOptions {
  datasetId: string;
  imageSize: number;
  trainIdentities: number;
  valIdentities: number;
  imagesPerIdentity: number;
  shardSize: number;
  trainPairs: number;
  valPairs: number;
}

/** Identities with at least `min` images, in name order (deterministic). */
function identitiesWith(min: number): string[] {
  return fs
    .readdirSync(LFW_TRAIN, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .filter((name) => fs.readdirSync(path.join(LFW_TRAIN, name)).filter((f) => f.endsWith('.jpg')).length >= min);
}

export async function writeTinyLfwDataset(store: ObjectStore, o: TinyDatasetOptions): Promise<TinyDataset> {
  const ids = identitiesWith(o.imagesPerIdentity).slice(0, o.trainIdentities + o.valIdentities);
  if (ids.length < o.trainIdentities + o.valIdentities) throw new Error(`${LFW_TRAIN}: not enough identities with ${o.imagesPerIdentity} images`);
  const splits = { train: ids.slice(0, o.trainIdentities), val: ids.slice(o.trainIdentities) };
  const listings: ShardListing[] = [];
  const imagesPerIdentity: Record<string, number> = {};
  const identitySplit: Record<string, 'train' | 'val'> = {};
  const pairsKeys = { train: `datasets/${o.datasetId}/pairs/train.csv`, val: `datasets/${o.datasetId}/pairs/val.csv` };
  let total = 0;
  for (const split of ['train', 'val'] as const) {
    const images: ShardImage[] = [];
    const byIdentity = new Map<string, string[]>();
    for (const identity of splits[split]) {
      const files = fs.readdirSync(path.join(LFW_TRAIN, identity)).filter((f) => f.endsWith('.jpg')).sort().slice(0, o.imagesPerIdentity);
      for (const f of files) {
        const data = await preprocessImage(fs.readFileSync(path.join(LFW_TRAIN, identity, f)), {
          size: o.imageSize,
          crop: 'centre',
          maxInputPixels: DEFAULT_MAX_INPUT_PIXELS,
          maxInputBytes: DEFAULT_MAX_INPUT_BYTES,
        });
        const imageId = `${identity}/${f}`;
        images.push({ imageId, identity, source: imageId, data });
        byIdentity.set(identity, [...(byIdentity.get(identity) ?? []), imageId]);
      }
      imagesPerIdentity[identity] = files.length;
      identitySplit[identity] = split;
    }
    total += images.length;
    for (let n = 0; n * o.shardSize < images.length; n++) {
      const key = shardKey(o.datasetId, `tiny-${o.imageSize}`, split, n);
      const index = await writeShard(store, key, images.slice(n * o.shardSize, (n + 1) * o.shardSize), { configHash: 'test' });
      listings.push({ split, key, index: shardIndexKey(key), count: index.count, bytes: index.bytes, sha256: index.sha256, etag: index.etag });
    }
    const { pairs } = makePairs(byIdentity, split === 'train' ? o.trainPairs : o.valPairs, `tiny-${split}`);
    await store.putObject(pairsKeys[split], ['a,b,label', ...pairs.map((p) => `${p.a},${p.b},${p.label}`)].join('\n') + '\n', { contentType: 'text/csv' });
  }
  const manifest: DatasetManifest = {
    version: 1,
    datasetId: o.datasetId,
    configHash: `tiny-${o.imageSize}`,
    config: { imageSize: o.imageSize, crop: 'centre', shardSize: o.shardSize, splitSeed: 0, fractions: { train: 0.8, val: 0.2, test: 0 }, maxBadFraction: 0, maxInputPixels: DEFAULT_MAX_INPUT_PIXELS, jpegQuality: SHARD_JPEG_QUALITY },
    cropApplied: 'centre',
    source: { kind: 'folder', location: LFW_TRAIN } as unknown as DatasetManifest['source'],
    identities: ids.length,
    images: total,
    imagesPerIdentity,
    identitySplit,
    splits: {
      train: { identities: splits.train.length, images: listings.filter((l) => l.split === 'train').reduce((n, l) => n + l.count, 0), shards: listings.filter((l) => l.split === 'train').length },
      val: { identities: splits.val.length, images: listings.filter((l) => l.split === 'val').reduce((n, l) => n + l.count, 0), shards: listings.filter((l) => l.split === 'val').length },
      test: { identities: 0, images: 0, shards: 0 },
    },
    shards: listings,
    quality: { checked: total, bad: 0, badFraction: 0, maxBadFraction: 0, skipped: [], fetchSkipped: [] },
    createdAt: new Date().toISOString(),
  };
  const manifestKey = datasetManifestKey(o.datasetId, manifest.configHash);
  await store.putJson(manifestKey, manifest);
  return { datasetId: o.datasetId, manifestKey, pairsKeys, images: total };
}

/** A two-block DenseNet at 32 px that trains a few steps in seconds (the train tests' base config). */
export const TINY_TRAIN_CONFIG: TrainConfigInput = {
  imageSize: 32,
  model: { blocks: [1, 1], growthRate: 8, headUnits: [16, 16], embeddingDim: 8 },
  weights: { kind: 'none' },
  batchSize: 4,
  phase1: { epochs: 1, lr: 1e-2 },
  phase2: { epochs: 2, lr: 1e-3 },
  stepsPerEpoch: 4,
  warmupSteps: 2,
  checkpointEverySteps: 3,
  keepCheckpoints: 2,
  valPairsLimit: 12,
  backend: 'wasm',
  stopCheckEverySteps: 1,
};
