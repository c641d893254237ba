/**
 * SHARD FORMAT (read by the training data loader; keep it exactly as documented here).
 *
 * Location: `datasets/<id>/shards/<config hash>/<split>/shard-NNNNN.tar` (lib/data/sources shardSetPrefix), split in
 * train|val|test, NNNNN zero-padded from 00000.
 *
 * `shard-NNNNN.tar` is a plain POSIX (ustar) tar. Each entry is one preprocessed image: an RGB JPEG (quality 95,
 * 4:4:4, size x size pixels as recorded in the set's manifest.json `config.imageSize`), entry name = the image
 * id `<identity>/<file name>` (a PAX header carries names too long for ustar). Entry mtimes are 0 and modes 0644,
 * so the same images give the same bytes.
 *
 * Beside it, `shard-NNNNN.index.json`:
 *   {
 *     shard: string,          // the tar's key
 *     count: number,          // entries
 *     bytes: number,          // tar size in bytes
 *     sha256: string,         // hex sha256 of the whole tar
 *     etag?: string,          // the tar's ETag as written: readers ask for exactly it (If-Match)
 *     entries: [{ imageId, identity, source, offset, length }],
 *                             // source: the raw object path the image came from (relative to datasets/<id>/raw/);
 *                             // offset/length: byte range of the JPEG data inside the tar (a ranged GET reads one image)
 *     skipped?: [{ imageId, source, reason }]   // optional: images planned for this shard that were bad
 *   }
 * The index is written after the tar, so an index whose `bytes`/`sha256` match the tar means the shard is complete.
 * The tar object also carries S3 metadata `sha256` and `config-hash`.
 */
import { createHash } from 'node:crypto';
import { SiamfaceError } from '../errors';
import type { ObjectStore } from '../storage/object-store';
import { shardSetPrefix } from './sources';

export interface ShardEntry {
  imageId: string;
  identity: string;
  source: string;
  offset: number;
  length: number;
}

export interface ShardSkip {
  imageId: string;
  source: string;
  reason: string;
}

export interface ShardIndex {
  shard: string;
  count: number;
  bytes: number;
  sha256: string;
  /** The tar's ETag when it was written: readers fetch exactly that version (If-Match). */
  etag?: string;
  entries: ShardEntry[];
  skipped?: ShardSkip[];
}

/** An entry as returned by readShardIndex: it knows its shard, so readShardImage(store, entry) works. */
export type LocatedShardEntry = ShardEntry & { shard: string };

export interface ShardImage {
  imageId: string;
  identity: string;
  source: string;
  /** JPEG bytes. */
  data: Buffer;
}

export const shardKey = (datasetId: string, configHash: string, split: string, n: number) => `${shardSetPrefix(datasetId, configHash)}${split}/shard-${String(n).padStart(5, '0')}.tar`;
export const shardIndexKey = (tarKey: string) => tarKey.replace(/\.tar$/, '.index.json');

const BLOCK = 512;

/** Builds the tar in memory (one shard is bounded by the shard size) and records where each image's bytes are. */
export function buildShardTar(images: ShardImage[]): { tar: Buffer; entries: ShardEntry[] } {
  const parts: Buffer[] = [];
  const entries: ShardEntry[] = [];
  let offset = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    offset += b.length;
  };
  for (const img of images) {
    for (const header of tarHeaders(img.imageId, img.data.length)) push(header);
    entries.push({ imageId: img.imageId, identity: img.identity, source: img.source, offset, length: img.data.length });
    push(img.data);
    const pad = (BLOCK - (img.data.length % BLOCK)) % BLOCK;
    if (pad) push(Buffer.alloc(pad));
  }
  push(Buffer.alloc(BLOCK * 2)); // end-of-archive marker
  return { tar: Buffer.concat(parts, offset), entries };
}

/** Uploads the tar (with sha256 and config-hash metadata), then its index. Returns the index. */
export async function writeShard(
  store: ObjectStore,
  key: string,
  images: ShardImage[],
  opts: { configHash?: string; skipped?: ShardSkip[] } = {},
): Promise<ShardIndex> {
  const { tar, entries } = buildShardTar(images);
  const sha256 = createHash('sha256').update(tar).digest('hex');
  const metadata: Record<string, string> = { sha256 };
  if (opts.configHash) metadata['config-hash'] = opts.configHash;
  const { etag } = await store.putObject(key, tar, { contentType: 'application/x-tar', metadata });
  const index: ShardIndex = { shard: key, count: entries.length, bytes: tar.length, sha256, etag, entries };
  if (opts.skipped?.length) index.skipped = opts.skipped;
  await store.putJson(shardIndexKey(key), index);
  return index;
}

/** Reads an index by its key or by its tar's key; entries come back with their shard key. */
export async function readShardIndex(store: ObjectStore, key: string): Promise<ShardIndex & { entries: LocatedShardEntry[] }> {
  const indexKey = key.endsWith('.tar') ? shardIndexKey(key) : key;
  const index = await store.getJson<ShardIndex>(indexKey);
  if (!index || typeof index.shard !== 'string' || !Array.isArray(index.entries)) {
    throw new SiamfaceError('bad_input', `${store.uri(indexKey)} is not a shard index`);
  }
  return { ...index, entries: index.entries.map((e) => ({ ...e, shard: index.shard })) };
}

/** One image by ranged GET. */
export async function readShardImage(store: ObjectStore, entry: ShardEntry & { shard?: string }, shard?: string): Promise<Buffer> {
  const key = shard ?? entry.shard;
  if (!key) throw new SiamfaceError('bad_input', `readShardImage: no shard key for ${entry.imageId} (pass it or use an entry from readShardIndex)`);
  return store.getRange(key, entry.offset, entry.length);
}

function tarHeaders(name: string, size: number): Buffer[] {
  const nameBytes = Buffer.byteLength(name);
  if (nameBytes <= 100) return [ustarHeader(name, '', size, '0')];
  const split = splitUstarName(name);
  if (split) return [ustarHeader(split.name, split.prefix, size, '0')];
  // PAX extended header with the full path; the ustar name is a truncated fallback.
  const record = paxRecord('path', name);
  const pax = Buffer.from(record, 'utf8');
  const paxPad = (BLOCK - (pax.length % BLOCK)) % BLOCK;
  return [ustarHeader('PaxHeader', '', pax.length, 'x'), pax, Buffer.alloc(paxPad), ustarHeader(truncateUtf8(name, 100), '', size, '0')];
}

function splitUstarName(name: string): { prefix: string; name: string } | null {
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest.length > 0) return { prefix, name: rest };
  }
  return null;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const len = Buffer.byteLength(body);
  let total = len + String(len).length;
  if (String(total).length !== String(len).length) total = len + String(total).length;
  return `${total}${body}`;
}

function truncateUtf8(s: string, max: number): string {
  let out = s;
  while (Buffer.byteLength(out) > max) out = out.slice(1);
  return out;
}

function ustarHeader(name: string, prefix: string, size: number, type: '0' | 'x'): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 8, 'ascii');
  h.write('0000000\0', 108, 8, 'ascii');
  h.write('0000000\0', 116, 8, 'ascii');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 12, 'ascii');
  h.write('00000000000\0', 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii');
  h.write(type, 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i];
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}
