/**
 * The training data loader: pairs (`a,b,label` CSV of image ids) and their images from the
 * shards in S3 (lib/data/shard-format.ts), decoded, augmented, preprocessed and batched.
 *
 * - Reads: when the shards the run needs total at most `shardCacheBytes`, each shard is fetched
 *   once whole (sha256 checked against its index) and kept; otherwise each image is a ranged GET.
 * - Decoding and augmentation run in sharp. libvips does the pixel work on libuv's thread pool,
 *   not on the JS thread, so we need no worker_threads pool of our own: while the (synchronous)
 *   tfjs step runs, the next batches are being decoded on the other cores (`prefetch`).
 * - Decoded images (RGB at the training size) are kept in an LRU bounded by `decodedCacheImages`.
 * - Determinism: the pair order of an epoch is a seeded shuffle of (seed, epoch), and each image's
 *   augmentation is drawn from (seed, epoch, index, slot). A batch is a pure function of its
 *   cursor (epoch, index), so a resumed run sees exactly the batches it would have seen.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { LRUCache } from 'lru-cache';
import * as tf from '@tensorflow/tfjs';
import { SiamfaceError, badInput } from '../errors';
import type { ObjectStore } from '../storage/object-store';
import { parseCsvRecords } from '../data/csv';
import { seededRandom } from '../data/pairs';
import { readShardIndex, type LocatedShardEntry } from '../data/shard-format';
import type { DatasetManifest } from '../data/dataset-manifest';
import { preprocessRgbBytes, type Normalization } from '../model/preprocess';
import { decodeForModel } from '../data/preprocess';
import type { AugmentConfig } from './config';

export interface LabelledPair {
  a: string;
  b: string;
  label: 0 | 1;
}

/** Position in the data: batch `index` of epoch `epoch` (the next batch to train on). */
export interface DataCursor {
  epoch: number;
  index: number;
}

/** Parses a pairs CSV (`a,b,label` header, image ids, label 0/1); errors name the file and line. */
export function parsePairsCsv(text: string, where: string): LabelledPair[] {
  const [head, ...rows] = parseCsvRecords(text, where);
  const header = head?.cells.join(',');
  if (header !== 'a,b,label') throw badInput(`${where} line ${head?.line ?? 1}: expected header 'a,b,label', got '${header ?? ''}'`);
  const pairs: LabelledPair[] = [];
  for (const { line, cells } of rows) {
    if (cells.length !== 3) throw badInput(`${where} line ${line}: expected 3 fields a,b,label, got ${cells.length}`);
    const [a, b, l] = cells;
    if (!a || !b) throw badInput(`${where} line ${line}: empty image id`);
    if (l !== '0' && l !== '1') throw badInput(`${where} line ${line}: label must be 0 or 1, got '${l}'`);
    pairs.push({ a, b, label: l === '1' ? 1 : 0 });
  }
  return pairs;
}

export async function loadPairs(store: ObjectStore, key: string, limit?: number): Promise<LabelledPair[]> {
  const pairs = parsePairsCsv((await store.getBuffer(key)).toString('utf8'), store.uri(key));
  return limit !== undefined ? pairs.slice(0, limit) : pairs;
}

/** Deterministic permutation of 0..n-1 for (seed, epoch) (Fisher-Yates with sfc32). */
export function epochOrder(n: number, seed: number, epoch: number): Uint32Array {
  const rand = seededRandom(`${seed}\u0000epoch\u0000${epoch}`);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

export interface AugmentParams {
  flip: boolean;
  /** Zoom factor >= 1 and the crop's top-left corner as fractions of the free margin. */
  scale: number;
  cropX: number;
  cropY: number;
  /** out = contrast * (in - 128) + 128 + brightness * 255 */
  contrast: number;
  brightness: number;
}

export const NO_AUGMENT: AugmentParams = Object.freeze({ flip: false, scale: 1, cropX: 0.5, cropY: 0.5, contrast: 1, brightness: 0 });

/** Augmentation of one image, drawn from (seed, epoch, index, slot) only. */
export function augmentParams(cfg: AugmentConfig, seed: number, epoch: number, index: number, slot: number): AugmentParams {
  const r = seededRandom(`${seed}\u0000aug\u0000${epoch}\u0000${index}\u0000${slot}`);
  const flip = r() < 0.5;
  const scale = 1 + r() * cfg.scaleJitter;
  const cropX = r();
  const cropY = r();
  const contrast = 1 + (2 * r() - 1) * cfg.contrast;
  const brightness = (2 * r() - 1) * cfg.brightness;
  return { flip: cfg.flip && flip, scale, cropX, cropY, contrast, brightness };
}

function isIdentity(p: AugmentParams, size: number): boolean {
  return !p.flip && Math.round(size * p.scale) === size && p.contrast === 1 && p.brightness === 0;
}

/** Applies `p` to a size x size RGB image in libvips (off the JS thread); returns RGB bytes of the same size. */
export async function augmentRgb(rgb: Buffer, size: number, p: AugmentParams): Promise<Buffer> {
  if (isIdentity(p, size)) return rgb;
  let img = sharp(rgb, { raw: { width: size, height: size, channels: 3 } });
  const zoomed = Math.round(size * p.scale);
  if (zoomed > size) {
    const free = zoomed - size;
    img = img.resize(zoomed, zoomed, { kernel: 'linear' }).extract({ left: Math.round(p.cropX * free), top: Math.round(p.cropY * free), width: size, height: size });
  }
  if (p.flip) img = img.flop();
  if (p.contrast !== 1 || p.brightness !== 0) img = img.linear(p.contrast, 128 * (1 - p.contrast) + p.brightness * 255);
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  if (info.width !== size || info.height !== size || info.channels !== 3) {
    throw new Error(`augmentRgb: got ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`);
  }
  return data;
}

export interface ShardImageSourceOptions {
  /** Training input side; shard images of another size are resized when decoded. */
  imageSize: number;
  decodedCacheImages: number;
  shardCacheBytes: number;
  /** Splits whose shards to index (default train and val). */
  splits?: string[];
}

export interface SourceStats {
  images: number;
  shards: number;
  mode: 'whole-shard' | 'ranged';
  decodes: number;
  cacheHits: number;
  bytesRead: number;
}

/** Images by id from a dataset's shards, decoded to RGB at the training size, with an LRU of decoded images. */
export class ShardImageSource {
  private readonly entries = new Map<string, LocatedShardEntry & { split: string }>();
  /** Whole shard tars (whole-shard mode), bounded by the bytes the manifest records for them. */
  private readonly shardTars: LRUCache<string, Promise<Buffer>>;
  /** Absent when decodedCacheImages is 0 (no caching). */
  private readonly decoded: LRUCache<string, Buffer> | undefined;
  private readonly decoding = new Map<string, Promise<Buffer>>();
  readonly stats: SourceStats;

  private constructor(
    private readonly store: ObjectStore,
    private readonly opts: ShardImageSourceOptions,
    private readonly shardIndexes: Map<string, { bytes: number; sha256: string; etag?: string }>,
    mode: SourceStats['mode'],
  ) {
    this.stats = { images: 0, shards: shardIndexes.size, mode, decodes: 0, cacheHits: 0, bytesRead: 0 };
    this.decoded = opts.decodedCacheImages > 0 ? new LRUCache({ max: opts.decodedCacheImages }) : undefined;
    this.shardTars = new LRUCache({ maxSize: Math.max(1, opts.shardCacheBytes), sizeCalculation: (_tar, key) => Math.max(1, shardIndexes.get(key)?.bytes ?? 1) });
  }

  /** Indexes the shards of the manifest's splits (one small GET per shard). */
  static async open(store: ObjectStore, manifestKey: string, opts: ShardImageSourceOptions): Promise<ShardImageSource> {
    const manifest = await store.getJson<DatasetManifest>(manifestKey);
    if (!Array.isArray(manifest.shards)) throw badInput(`${store.uri(manifestKey)} is not a dataset manifest (no shards list)`);
    const splits = new Set(opts.splits ?? ['train', 'val']);
    const listed = manifest.shards.filter((s) => splits.has(s.split));
    const total = listed.reduce((n, s) => n + s.bytes, 0);
    const shardInfo = new Map(listed.map((s) => [s.key, { bytes: s.bytes, sha256: s.sha256, etag: s.etag }]));
    const source = new ShardImageSource(store, opts, shardInfo, total <= opts.shardCacheBytes ? 'whole-shard' : 'ranged');
    for (const s of listed) {
      const index = await readShardIndex(store, s.index);
      for (const e of index.entries) source.entries.set(e.imageId, { ...e, split: s.split });
    }
    source.stats.images = source.entries.size;
    return source;
  }

  has(imageId: string): boolean {
    return this.entries.has(imageId);
  }

  /** The identity (label) of an image, as its shard index records it. */
  identityOf(imageId: string): string {
    const e = this.entries.get(imageId);
    if (!e) throw badInput(`image '${imageId}' is in no shard of the dataset`);
    return e.identity;
  }

  /** Image ids of a split, in shard order. */
  imagesOf(split: string): string[] {
    return [...this.entries.values()].filter((e) => e.split === split).map((e) => e.imageId);
  }

  /** Sorted identities of a split: the classes of the margin losses. */
  identitiesOf(split: string): string[] {
    return [...new Set([...this.entries.values()].filter((e) => e.split === split).map((e) => e.identity))].sort();
  }

  /** Fails early (naming the first few) when pairs refer to images the shards do not hold. */
  checkPairs(pairs: readonly LabelledPair[], where: string): void {
    const missing = new Set<string>();
    for (const p of pairs) {
      if (!this.entries.has(p.a)) missing.add(p.a);
      if (!this.entries.has(p.b)) missing.add(p.b);
    }
    if (missing.size) {
      throw badInput(`${where}: ${missing.size} image ids are in no shard of the dataset (first: ${[...missing].slice(0, 3).join(', ')})`);
    }
  }

  private async jpeg(entry: LocatedShardEntry): Promise<Buffer> {
    if (this.stats.mode === 'ranged') {
      this.stats.bytesRead += entry.length;
      return this.rangedRead(entry);
    }
    let tar = this.shardTars.get(entry.shard);
    if (!tar) {
      tar = this.fetchShard(entry.shard);
      this.shardTars.set(entry.shard, tar);
      tar.catch(() => this.shardTars.delete(entry.shard)); // a failed fetch is retried by the next reader
    }
    const buf = await tar;
    return buf.subarray(entry.offset, entry.offset + entry.length);
  }

  /**
   * A ranged read has no checksum of its own: it asks for the tar version the manifest recorded (If-Match), so bytes
   * of a shard rewritten since can never be read as an image of this one.
   */
  private async rangedRead(entry: LocatedShardEntry): Promise<Buffer> {
    const etag = this.shardIndexes.get(entry.shard)?.etag;
    try {
      return await this.store.getRange(entry.shard, entry.offset, entry.length, { ifMatch: etag });
    } catch (err) {
      if (etag && err instanceof SiamfaceError && err.code === 'precondition_failed') {
        throw new SiamfaceError('checksum_mismatch', `${this.store.uri(entry.shard)} changed since the dataset manifest was written (it recorded ETag ${etag}): rerun the shard stage`);
      }
      throw err;
    }
  }

  private async fetchShard(key: string): Promise<Buffer> {
    const tar = await this.store.getBuffer(key);
    this.stats.bytesRead += tar.length;
    const want = this.shardIndexes.get(key);
    const sha = createHash('sha256').update(tar).digest('hex');
    if (want && (tar.length !== want.bytes || sha !== want.sha256)) {
      throw new SiamfaceError('checksum_mismatch', `${this.store.uri(key)} does not match the dataset manifest (${tar.length} bytes, sha256 ${sha})`);
    }
    return tar;
  }

  /** RGB bytes (imageSize x imageSize x 3) of one image; cached. */
  async rgb(imageId: string): Promise<Buffer> {
    const hit = this.decoded?.get(imageId);
    if (hit) {
      this.stats.cacheHits++;
      return hit;
    }
    let p = this.decoding.get(imageId);
    if (!p) {
      p = this.decode(imageId).finally(() => this.decoding.delete(imageId));
      this.decoding.set(imageId, p);
    }
    return p;
  }

  private async decode(imageId: string): Promise<Buffer> {
    const entry = this.entries.get(imageId);
    if (!entry) throw badInput(`image '${imageId}' is in no shard of the dataset`);
    const jpeg = await this.jpeg(entry);
    let rgb: Buffer;
    try {
      rgb = await decodeForModel(jpeg, this.opts.imageSize);
    } catch (err) {
      throw new SiamfaceError('bad_input', `cannot decode image '${imageId}' from ${this.store.uri(entry.shard)} at ${entry.offset}: ${(err as Error).message}`);
    }
    this.stats.decodes++;
    this.decoded?.set(imageId, rgb);
    return rgb;
  }

  /** Releases cached shards and images. */
  clear(): void {
    this.shardTars.clear();
    this.decoded?.clear();
  }
}

/** One step's data: 2B preprocessed images (the B `a` images, then the B `b` images) and B labels. */
export interface PairBatch {
  cursor: DataCursor;
  /** Float32 NHWC, normalised as the backbone expects (lib/model/preprocess). */
  images: Float32Array;
  labels: Float32Array;
  pairs: LabelledPair[];
  /** Image id and horizontal flip of each of the 2B slots (for class labels and teacher targets). */
  ids: string[];
  flips: boolean[];
}

export interface PairBatchLoaderOptions {
  batchSize: number;
  imageSize: number;
  seed: number;
  augment: AugmentConfig | null;
  normalization: Normalization;
  /** Batches per epoch (at most floor(pairs / batchSize)). */
  stepsPerEpoch: number;
  prefetch: number;
}

/** Batches of augmented pairs by cursor, with prefetch. */
export class PairBatchLoader {
  private orderCache: { epoch: number; order: Uint32Array } | null = null;

  constructor(
    private readonly source: ShardImageSource,
    private readonly pairs: readonly LabelledPair[],
    readonly opts: PairBatchLoaderOptions,
  ) {
    if (pairs.length < opts.batchSize) throw badInput(`${pairs.length} train pairs are fewer than one batch of ${opts.batchSize}`);
    if (opts.stepsPerEpoch > Math.floor(pairs.length / opts.batchSize)) {
      throw badInput(`stepsPerEpoch ${opts.stepsPerEpoch} exceeds the ${Math.floor(pairs.length / opts.batchSize)} full batches of ${pairs.length} pairs`);
    }
  }

  /** Pair indices of batch (epoch, index). */
  pairIndices(cursor: DataCursor): number[] {
    if (this.orderCache?.epoch !== cursor.epoch) this.orderCache = { epoch: cursor.epoch, order: epochOrder(this.pairs.length, this.opts.seed, cursor.epoch) };
    const start = cursor.index * this.opts.batchSize;
    return Array.from(this.orderCache.order.subarray(start, start + this.opts.batchSize));
  }

  /** The cursor after `cursor`. */
  next(cursor: DataCursor): DataCursor {
    return cursor.index + 1 >= this.opts.stepsPerEpoch ? { epoch: cursor.epoch + 1, index: 0 } : { epoch: cursor.epoch, index: cursor.index + 1 };
  }

  async batchAt(cursor: DataCursor): Promise<PairBatch> {
    if (cursor.index < 0 || cursor.index >= this.opts.stepsPerEpoch) throw new Error(`batch index ${cursor.index} outside epoch of ${this.opts.stepsPerEpoch} batches`);
    const { batchSize: B, imageSize: S } = this.opts;
    const per = S * S * 3;
    const pairs = this.pairIndices(cursor).map((i) => this.pairs[i]);
    const images = new Float32Array(2 * B * per);
    const labels = Float32Array.from(pairs, (p) => p.label);
    const ids = [...pairs.map((p) => p.a), ...pairs.map((p) => p.b)];
    const flips = new Array<boolean>(2 * B).fill(false);
    await Promise.all(
      ids.map(async (id, slot) => {
        const params = this.opts.augment ? augmentParams(this.opts.augment, this.opts.seed, cursor.epoch, cursor.index, slot) : NO_AUGMENT;
        flips[slot] = params.flip;
        const rgb = await augmentRgb(await this.source.rgb(id), S, params);
        preprocessRgbBytes(rgb, this.opts.normalization, images, slot * per);
      }),
    );
    return { cursor, images, labels, pairs, ids, flips };
  }

  /**
   * `count` batches from `from`, keeping up to `prefetch` batches in preparation ahead of the
   * consumer. Stopping early (return/break) leaves at most `prefetch` batches to finish unseen.
   */
  async *batches(from: DataCursor, count: number): AsyncGenerator<PairBatch> {
    const queue: Promise<PairBatch>[] = [];
    let cursor = from;
    let issued = 0;
    const fill = () => {
      while (issued < count && queue.length <= this.opts.prefetch) {
        const p = this.batchAt(cursor);
        p.catch(() => undefined); // surfaced when awaited below
        queue.push(p);
        cursor = this.next(cursor);
        issued++;
      }
    };
    fill();
    while (queue.length) {
      const batch = await queue.shift()!;
      fill();
      yield batch;
    }
  }
}

/** Tensors of a batch: images [2B, S, S, 3] and labels [B]; the caller disposes them. */
export function batchTensors(batch: PairBatch, imageSize: number): { images: tf.Tensor4D; labels: tf.Tensor1D } {
  const n = batch.labels.length;
  return {
    images: tf.tensor4d(batch.images, [2 * n, imageSize, imageSize, 3]),
    labels: tf.tensor1d(batch.labels),
  };
}
