/**
 * Stage 2: decode, crop and resize every raw image and pack them into tar shards per identity-disjoint split
 * (format: shard-format.ts), then write the set's manifest.json. Each config gets its own set,
 * `datasets/<id>/shards/<config hash>/`, never rewritten in place. Deterministic: the same raw data and config give
 * the same shard plan, so a rerun skips complete shards and continues with the rest.
 */
import { createHash } from 'node:crypto';
import { SiamfaceError, badInput } from '../errors';
import { throwIfAborted, type RunContext } from '../progress';
import type { ObjectStore } from '../storage/object-store';
import { SPLITS, parseEvalPartition, reportPartitionByIdentity, type Split } from './celeba-partition';
import type { DatasetManifest, ShardConfig, ShardListing } from './dataset-manifest';
import { parseIdentityFile } from './identity-file';
import { mapLimit } from './pool';
import { defaultDetector } from '../face/detector-setting';
import { BadImageError, CROP_MODES, cropNeedsFace, DEFAULT_MAX_INPUT_BYTES, DEFAULT_MAX_INPUT_PIXELS, SHARD_JPEG_QUALITY, preprocessImage, type CropMode, type FaceAligner } from './preprocess';
import type { RawImage, RawManifest } from './raw-manifest';
import { readRawImage } from './raw-image';
import { shardIndexKey, shardKey, writeShard, type ShardImage, type ShardIndex, type ShardSkip } from './shard-format';
import { datasetManifestKey, rawManifestKey, rawPrefix, stableJson } from './sources';
import { DEFAULT_SPLIT_FRACTIONS, identityDisjointSplit, validateFractions, type SplitFractions } from './split';

export interface ShardInput {
  datasetId: string;
  /** Output images are imageSize x imageSize; default 128. */
  imageSize?: number;
  /** 'centre' (aligned sets such as CelebA aligned, LFW deep-funneled), 'face-align' or 'face-chip' (lib/data/preprocess CropMode). */
  crop?: CropMode;
  /** Images per shard; default 1000. */
  shardSize?: number;
  /** Seed of the identity split; default 0. */
  splitSeed?: number | string;
  fractions?: SplitFractions;
  /** Fail (permanently) when more than this fraction of images is bad; default 0.05. */
  maxBadFraction?: number;
  maxInputPixels?: number;
  /** Images read and prepared at once, 1-64; default DEFAULT_SHARD_CONCURRENCY. */
  concurrency?: number;
}

export interface ShardResult {
  datasetId: string;
  manifestKey: string;
  shards: number;
  images: number;
  skippedImages: number;
  /** Shards written by this run (0 when everything was already done). */
  shardsWritten: number;
}

export interface ShardOptions {
  /** Face alignment for crop 'face-align'; without it the centre crop is used and the manifest says so. */
  aligner?: FaceAligner;
}

interface PlannedShard {
  split: Split;
  n: number;
  key: string;
  images: RawImage[];
}

/**
 * Each image costs one GET from the raw prefix, whose latency (and, on a loopback MinIO, the kernel's socket work)
 * leaves libvips idle unless many reads are in flight: on 2 cores, 4 at once gave 243 images/s, 16 gave 297 and 32 no
 * more (bench/ingest-bench). Memory is a few encoded images per slot.
 */
export const DEFAULT_SHARD_CONCURRENCY = 16;

export function shardConfigOf(input: ShardInput): ShardConfig {
  const config: ShardConfig = {
    imageSize: input.imageSize ?? 128,
    crop: input.crop ?? 'centre',
    shardSize: input.shardSize ?? 1000,
    splitSeed: input.splitSeed ?? 0,
    fractions: validateFractions(input.fractions ?? DEFAULT_SPLIT_FRACTIONS),
    maxBadFraction: input.maxBadFraction ?? 0.05,
    maxInputPixels: input.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS,
    jpegQuality: SHARD_JPEG_QUALITY,
  };
  if (!Number.isInteger(config.imageSize) || config.imageSize < 16 || config.imageSize > 1024) throw badInput(`imageSize ${config.imageSize} must be an integer in [16, 1024]`);
  if (!CROP_MODES.includes(config.crop)) throw badInput(`crop '${config.crop}' must be one of ${CROP_MODES.join(', ')}`);
  if (!Number.isInteger(config.shardSize) || config.shardSize < 1) throw badInput(`shardSize ${config.shardSize} must be a positive integer`);
  if (!(config.maxBadFraction >= 0 && config.maxBadFraction <= 1)) throw badInput(`maxBadFraction ${config.maxBadFraction} must be in [0, 1]`);
  // Part of the config hash: faces found by another detector make another shard set (centre crops are unaffected).
  if (cropNeedsFace(config.crop)) config.faceDetector = defaultDetector();
  return config;
}

/** Assigns images to splits by identity and to shards by a seeded hash order (stable across reruns). */
export function planShards(datasetId: string, configHash: string, images: RawImage[], config: ShardConfig): { plan: PlannedShard[]; identitySplit: Map<string, Split> } {
  const identitySplit = identityDisjointSplit(
    images.map((i) => i.identity),
    { seed: config.splitSeed, fractions: config.fractions },
  );
  const plan: PlannedShard[] = [];
  for (const split of SPLITS) {
    const inSplit = images
      .filter((i) => identitySplit.get(i.identity) === split)
      .map((img) => ({ img, h: createHash('sha256').update(`${config.splitSeed}\u0000${img.id}`).digest('hex') }))
      .sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : 0))
      .map((x) => x.img);
    for (let n = 0; n * config.shardSize < inSplit.length; n++) {
      plan.push({ split, n, key: shardKey(datasetId, configHash, split, n), images: inSplit.slice(n * config.shardSize, (n + 1) * config.shardSize) });
    }
  }
  return { plan, identitySplit };
}

export async function shardDataset(store: ObjectStore, input: ShardInput, ctx: RunContext, opts: ShardOptions = {}): Promise<ShardResult> {
  const config = shardConfigOf(input);
  const concurrency = input.concurrency ?? DEFAULT_SHARD_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw badInput(`concurrency ${concurrency} must be an integer in [1, 64]`);
  const datasetId = input.datasetId;
  const raw = await store.getJsonIfExists<RawManifest>(rawManifestKey(datasetId));
  if (!raw) throw new SiamfaceError('not_found', `${store.uri(rawManifestKey(datasetId))} does not exist: run fetchDataset for dataset ${datasetId} first`);
  const rawData = raw.value;
  const configHash = createHash('sha256').update(stableJson({ raw: rawData.sourceHash, rawFiles: rawData.files.length, config })).digest('hex').slice(0, 16);
  const manifestKey = datasetManifestKey(datasetId, configHash);

  const existing = await store.getJsonIfExists<DatasetManifest>(manifestKey);
  if (existing?.value.configHash === configHash) {
    ctx.log('shards already complete', { datasetId, configHash });
    return resultOf(existing.value, manifestKey, 0);
  }

  const cropApplied: CropMode = config.crop === 'face-align' && !opts.aligner ? 'centre' : config.crop;
  if (cropApplied !== config.crop) ctx.log('face alignment not available: using the centre crop', { datasetId });
  const { plan, identitySplit } = planShards(datasetId, configHash, rawData.images, config);
  const total = rawData.images.length;
  const maxBad = Math.floor(config.maxBadFraction * total);
  const prefix = rawPrefix(datasetId);
  const done: ShardIndex[] = [];
  const skipped: ShardSkip[] = [];
  let processed = 0;
  let written = 0;
  let pendingUpload: Promise<void> | undefined;
  const startedAt = Date.now();

  const checkBad = () => {
    if (skipped.length > maxBad) {
      const sample = skipped.slice(0, 5).map((s) => `${s.source}: ${s.reason}`).join('; ');
      throw new SiamfaceError(
        'too_many_bad_images',
        `dataset ${datasetId}: ${skipped.length} of ${total} images are bad, above maxBadFraction ${config.maxBadFraction} (${maxBad} allowed); e.g. ${sample}`,
        { details: { bad: skipped.length, total } },
      );
    }
  };

  try {
    for (const shard of plan) {
      throwIfAborted(ctx.signal);
      const complete = await completeShard(store, shard, configHash);
      if (complete) {
        done.push(complete);
        skipped.push(...(complete.skipped ?? []));
        processed += shard.images.length;
        checkBad();
        continue;
      }
      const shardSkipped: ShardSkip[] = [];
      const results = await mapLimit(shard.images, concurrency, async (img) => {
        throwIfAborted(ctx.signal);
        const data = await readRawImage(store, prefix, img);
        try {
          const jpeg = await preprocessImage(data, {
            size: config.imageSize,
            crop: cropApplied,
            maxInputPixels: config.maxInputPixels,
            maxInputBytes: DEFAULT_MAX_INPUT_BYTES,
            aligner: opts.aligner,
          });
          return { imageId: img.id, identity: img.identity, source: img.path, data: jpeg } satisfies ShardImage;
        } catch (err) {
          if (!(err instanceof BadImageError)) throw err;
          shardSkipped.push({ imageId: img.id, source: img.path, reason: err.reason });
          return null;
        } finally {
          processed++;
          ctx.report({ stage: 'shard', images: processed, total, skipped: skipped.length + shardSkipped.length, shardsDone: done.length, shards: plan.length, imagesPerSecond: rate(processed, startedAt) });
        }
      });
      skipped.push(...shardSkipped);
      // Upload this shard while the next one is decoded; at most one upload in flight keeps memory bounded.
      await pendingUpload;
      checkBad();
      const good = results.filter((r): r is ShardImage => r !== null);
      pendingUpload = writeShard(store, shard.key, good, { configHash, skipped: shardSkipped }).then((index) => {
        done.push(index);
        written++;
      });
      // Awaited at the next shard or below; until then its failure must not count as unhandled (it would kill the worker).
      pendingUpload.catch(() => undefined);
    }
    await pendingUpload;
  } catch (err) {
    // Settle the upload still in flight before failing, so no write of this attempt lands after it has failed.
    await pendingUpload?.catch(() => undefined);
    throw err;
  }

  const manifest = buildManifest(rawData, config, configHash, cropApplied, plan, done, identitySplit, skipped);
  if (rawData.layout === 'kaggle-celeba' && rawData.partitionFile && rawData.identityFile) {
    const [partText, idText] = await Promise.all([store.getBuffer(prefix + rawData.partitionFile), store.getBuffer(prefix + rawData.identityFile.path)]);
    const partition = parseEvalPartition(partText.toString('utf8'), store.uri(prefix + rawData.partitionFile));
    const identities = parseIdentityFile(idText.toString('utf8'), store.uri(prefix + rawData.identityFile.path));
    manifest.celebaPartition = reportPartitionByIdentity(
      partition,
      identities,
      rawData.images.map((i) => i.path.slice(i.path.lastIndexOf('/') + 1)),
    );
  }
  await store.putJson(manifestKey, manifest);
  ctx.report({ stage: 'shard', images: processed, total, skipped: skipped.length, shardsDone: plan.length, shards: plan.length });
  return resultOf(manifest, manifestKey, written);
}

/** A shard counts as done when its index exists and the tar matches it (size, sha256, same config). */
async function completeShard(store: ObjectStore, shard: PlannedShard, configHash: string): Promise<ShardIndex | null> {
  const index = await store.getJsonIfExists<ShardIndex>(shardIndexKey(shard.key));
  if (!index) return null;
  const head = await store.head(shard.key);
  const meta = head?.metadata ?? {};
  if (!head || head.size !== index.value.bytes || meta.sha256 !== index.value.sha256 || meta['config-hash'] !== configHash) return null;
  const planned = new Set(shard.images.map((i) => i.id));
  const covered = index.value.entries.length + (index.value.skipped?.length ?? 0);
  if (covered !== planned.size || !index.value.entries.every((e) => planned.has(e.imageId))) return null;
  // The tar as it is now was just checked against the index: readers pin this version.
  return { ...index.value, etag: head.etag };
}

function buildManifest(
  raw: RawManifest,
  config: ShardConfig,
  configHash: string,
  cropApplied: CropMode,
  plan: PlannedShard[],
  done: ShardIndex[],
  identitySplit: Map<string, Split>,
  skipped: ShardSkip[],
): DatasetManifest {
  const byKey = new Map(done.map((d) => [d.shard, d]));
  const shards: ShardListing[] = plan.map((p) => {
    const d = byKey.get(p.key)!;
    return { split: p.split, key: p.key, index: shardIndexKey(p.key), count: d.count, bytes: d.bytes, sha256: d.sha256, ...(d.etag ? { etag: d.etag } : {}) };
  });
  const imagesPerIdentity: Record<string, number> = {};
  const splits = Object.fromEntries(SPLITS.map((s) => [s, { identities: 0, images: 0, shards: 0 }])) as DatasetManifest['splits'];
  for (const d of done) {
    for (const e of d.entries) imagesPerIdentity[e.identity] = (imagesPerIdentity[e.identity] ?? 0) + 1;
  }
  const identitySplitObj: Record<string, Split> = {};
  for (const [id, split] of [...identitySplit.entries()].sort()) {
    if (!imagesPerIdentity[id]) continue; // every image of it was bad
    identitySplitObj[id] = split;
    splits[split].identities++;
    splits[split].images += imagesPerIdentity[id];
  }
  for (const s of shards) splits[s.split].shards++;
  const images = Object.values(imagesPerIdentity).reduce((a, b) => a + b, 0);
  return {
    version: 1,
    datasetId: raw.datasetId,
    configHash,
    config,
    cropApplied,
    source: raw.source,
    identities: Object.keys(identitySplitObj).length,
    images,
    imagesPerIdentity,
    identitySplit: identitySplitObj,
    splits,
    shards,
    quality: {
      checked: raw.images.length,
      bad: skipped.length,
      badFraction: raw.images.length ? skipped.length / raw.images.length : 0,
      maxBadFraction: config.maxBadFraction,
      skipped: [...skipped].sort((a, b) => (a.imageId < b.imageId ? -1 : 1)),
      fetchSkipped: raw.skipped,
    },
    createdAt: new Date().toISOString(),
  };
}

function resultOf(m: DatasetManifest, manifestKey: string, written: number): ShardResult {
  return { datasetId: m.datasetId, manifestKey, shards: m.shards.length, images: m.images, skippedImages: m.quality.bad, shardsWritten: written };
}

function rate(n: number, since: number): number {
  const s = (Date.now() - since) / 1000;
  return s > 0 ? Math.round((n / s) * 10) / 10 : 0;
}
