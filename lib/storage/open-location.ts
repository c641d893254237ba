/**
 * Reads any supported location (s3://, http(s)://, local path) as bytes or a stream.
 * Used for identity files, weights files, verify inputs: one way to fetch a thing by URI.
 */
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { SiamfaceError } from '../errors';
import { s3Config } from '../config';
import { ObjectStore, readAll } from './object-store';
import { parseUri, type Location } from './uri';

export interface OpenOptions {
  /** Store used for s3:// locations in its own bucket; other buckets reuse its endpoint and credentials. */
  store?: ObjectStore;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export async function openLocation(location: string | Location, opts: OpenOptions = {}): Promise<{ stream: Readable; size?: number }> {
  const loc = typeof location === 'string' ? parseUri(location) : location;
  switch (loc.kind) {
    case 'file': {
      let st: fs.Stats;
      try {
        st = await fs.promises.stat(loc.path);
      } catch {
        throw new SiamfaceError('not_found', `local file ${loc.path} does not exist`);
      }
      if (!st.isFile()) throw new SiamfaceError('bad_input', `${loc.path} is not a regular file`);
      return { stream: fs.createReadStream(loc.path), size: st.size };
    }
    case 's3': {
      const store = storeForBucket(loc.bucket, opts.store);
      const info = await store.head(loc.key);
      if (!info) throw new SiamfaceError('not_found', `s3://${loc.bucket}/${loc.key} does not exist`);
      return { stream: await store.getStream(loc.key), size: info.size };
    }
    case 'http': {
      let res: Response;
      try {
        res = await fetch(loc.url, { headers: opts.headers, redirect: 'follow', signal: opts.signal });
      } catch (err) {
        throw new SiamfaceError('transient', `cannot reach ${redactUrl(loc.url)}: ${(err as Error).message}`, { cause: err, permanent: false });
      }
      if (!res.ok || !res.body) throw httpError(res.status, loc.url);
      const len = res.headers.get('content-length');
      return { stream: Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), size: len ? Number(len) : undefined };
    }
  }
}

export async function readLocation(location: string | Location, opts: OpenOptions = {}): Promise<Buffer> {
  const { stream } = await openLocation(location, opts);
  return readAll(stream);
}

export function storeForBucket(bucket: string, store?: ObjectStore): ObjectStore {
  if (store && store.bucket === bucket) return store;
  // The store does not keep the secret (so logging it cannot leak it): it comes from the environment again.
  const env = s3Config();
  return new ObjectStore({ ...env, ...(store?.config ?? {}), secretAccessKey: env.secretAccessKey, bucket });
}

export function httpError(status: number, url: string): SiamfaceError {
  const where = redactUrl(url);
  if (status === 401 || status === 403) return new SiamfaceError('bad_credentials', `${where} answered ${status}: check the credentials`);
  if (status === 404) return new SiamfaceError('not_found', `${where} answered 404: not found`);
  if (status === 429 || status >= 500) return new SiamfaceError('transient', `${where} answered ${status}`, { permanent: false });
  return new SiamfaceError('bad_input', `${where} answered ${status}`);
}

/** Drops credentials and query strings (signed URLs) before a URL goes into a message. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    const hadQuery = u.search !== '';
    u.search = '';
    return hadQuery ? `${u.toString()}?<redacted>` : u.toString();
  } catch {
    return '<invalid url>';
  }
}
