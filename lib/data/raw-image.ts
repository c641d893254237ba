/**
 * Reads one raw image's bytes: its own object under raw/, or its entry inside an archive object kept whole (one
 * ranged GET, inflated here, checked against the zip's CRC-32 and size so a damaged or replaced archive is caught).
 */
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { SiamfaceError } from '../errors';
import type { ObjectStore } from '../storage/object-store';
import type { RawImage } from './raw-manifest';

const inflateRaw = promisify(zlib.inflateRaw);

export async function readRawImage(store: ObjectStore, rawPrefix: string, img: RawImage): Promise<Buffer> {
  const a = img.archived;
  if (!a) return store.getBuffer(rawPrefix + img.path);
  const where = `${store.uri(rawPrefix + a.archive)} entry ${img.path}`;
  const stored = a.compressedSize > 0 ? await store.getRange(rawPrefix + a.archive, a.offset, a.compressedSize) : Buffer.alloc(0);
  let data: Buffer;
  if (a.method === 0) data = stored;
  else if (a.method === 8) {
    try {
      data = await inflateRaw(stored, { maxOutputLength: Math.max(1, a.size) });
    } catch (err) {
      throw new SiamfaceError('bad_input', `${where} cannot be inflated: ${(err as Error).message}; was the archive replaced? Fetch the data set again`);
    }
  } else throw new SiamfaceError('bad_input', `${where} uses zip compression method ${a.method}; only stored (0) and deflated (8) entries are read`);
  if (data.length !== a.size || zlib.crc32(data) >>> 0 !== a.crc32 >>> 0) {
    throw new SiamfaceError('bad_input', `${where} does not match its zip directory (size ${data.length} vs ${a.size}, or CRC-32); was the archive replaced? Fetch the data set again`);
  }
  return data;
}
